"""enwiki feature lists, as revscoring objects, in the order the models were trained on."""

from __future__ import annotations

from transformers_svc.features import offline  # noqa: F401 - before revscoring.languages

from revscoring.features import revision_oriented, temporal, wikitext  # noqa: E402
from revscoring.languages import english  # noqa: E402

# revscoring's "is this edit reverted" tutorial model: the columns of the editquality
# demo files (`exporters/data/editquality/README.md`), in that order.
REVERTED = [
    wikitext.revision.diff.longest_repeated_char_added,
    wikitext.revision.diff.words_added,
    wikitext.revision.diff.words_removed,
    english.badwords.revision.diff.match_prop_delta_sum,
    english.informals.revision.diff.match_prop_delta_sum,
    english.stopwords.revision.diff.non_stopword_prop_delta_sum,
    revision_oriented.revision.user.is_anon,
    revision_oriented.revision.user.in_group({"bot", "sysop"}),
    temporal.revision.user.seconds_since_registration,
]
