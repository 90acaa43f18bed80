"""The shipped enwiki model's revscoring feature list, in the order of its training data.

Only training needs it: the exported entry carries the list itself (a service loads it
from the version folder, `exporters.contract.revscoring_features`).
"""

from __future__ import annotations

import exporters.contract.revscoring_features  # noqa: F401 - NLTK's offline data before revscoring.languages
from revscoring.features import revision_oriented, temporal, wikitext
from revscoring.languages import english

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
