"""revertrisk-language-agnostic's features (a pure function of API documents), the fixture
dumps they are trained from, and the fetch's pure parts (no server)."""

from __future__ import annotations

import pytest
import yaml

from exporters.revertrisk.dump import dump_revisions, labelled_examples
from exporters.revertrisk.features import FEATURE_NAMES, HiddenText, NamespaceNames, revision_features, wikitext_counts
from exporters.shipped import revertrisk_la
from transformers_svc.revertrisk_svc.fetch import api_timestamp, cirrus_creations, export_creations, index_url

PARENT = """Lead with [[Link one]] and [[Link two|two]].
== History ==
Text.<ref>{{cite web|url=http://example.org|title=x}}</ref>
[[Category:Things]]
"""
TEXT = PARENT + """== More ==
New [[Link three]] [http://spam.example buy] <ref name="a"/> {{Citation needed}}
[[File:Pic.jpg|thumb|A [[caption link]]]]
{| class="wikitable"
|-
| a || b
|}
<gallery>
A.jpg
B.jpg|two
</gallery>
[[Kategorie:Dinge]] [[:Category:Not a membership]]
"""
USER = {"userid": 42, "name": "Alice", "editcount": 1234, "registration": "2024-01-01T12:00:00Z",
        "groups": ["*", "user", "autoconfirmed", "extendedconfirmed", "rollbacker"]}


def page(revid: int, parentid: int, text: str, **fields) -> dict:
    rev = {"revid": revid, "parentid": parentid, "user": "Alice", "userid": 42, "timestamp": "2024-03-01T12:00:00Z",
           "size": len(text.encode()), "comment": "/* History */ add source", "tags": [],
           "slots": {"main": {"contentmodel": "wikitext", "*": text}}}
    rev.update(fields)
    return {"pageid": 7, "ns": 0, "title": "Some page", "revisions": [rev]}


def named(values: list[float]) -> dict[str, float]:
    assert len(values) == len(FEATURE_NAMES)
    return dict(zip(FEATURE_NAMES, values))


def test_names_are_fixed_unique_and_documented_families():
    assert len(FEATURE_NAMES) == len(set(FEATURE_NAMES)) == 68
    assert FEATURE_NAMES[:3] == ("revision_wikilinks", "revision_external_links", "revision_references")
    assert {"revision_text_bytes_diff", "user_is_anonymous", "is_sysop", "is_bot", "is_mobile_edit",
            "page_age_seconds", "revision_is_section_edit"} <= set(FEATURE_NAMES)


def test_structure_counts_and_differences():
    f = named(revision_features(page(2, 1, TEXT, tags=["visualeditor"]),
                                page(1, 0, PARENT, timestamp="2024-02-29T12:00:00Z"), USER, "2020-03-01T12:00:00Z"))
    # + [[Link three]], the caption's link, [[:Category:...]] (a link) and [[Kategorie:...]] (English names by default)
    assert (f["parent_wikilinks"], f["revision_wikilinks"], f["wikilinks_diff"]) == (2, 6, 4)
    assert (f["revision_external_links"], f["external_links_diff"]) == (2, 1)
    assert (f["revision_references"], f["references_diff"]) == (2, 1)
    assert (f["revision_templates"], f["templates_diff"]) == (2, 1)
    assert (f["revision_categories"], f["categories_diff"]) == (1, 0)
    assert (f["revision_media"], f["revision_headings"], f["revision_tables"]) == (3, 2, 1)  # a file, 2 gallery lines
    assert f["revision_text_bytes_diff"] == len(TEXT.encode()) - len(PARENT.encode())
    assert f["chars_diff"] == len(TEXT) - len(PARENT) and f["words_diff"] > 0
    assert (f["user_is_anonymous"], f["user_edit_count"], f["user_age_seconds"]) == (0, 1234, 60 * 86400)
    assert (f["is_extendedconfirmed"], f["is_rollbacker"], f["is_sysop"]) == (1, 1, 0)
    assert f["page_is_creation"] == 0 and f["page_age_seconds"] == (4 * 365 + 1) * 86400  # one Feb 29 between
    assert f["revision_seconds_since_parent"] == 86400
    assert f["revision_is_section_edit"] == 1 and f["revision_comment_length"] == len("/* History */ add source")
    assert f["is_visualeditor"] == 1 and f["is_mobile_edit"] == 0


def test_a_wikis_own_namespace_names():
    siteinfo = {"query": {"namespaces": {"6": {"id": 6, "*": "Datei", "canonical": "File"},
                                         "14": {"id": 14, "*": "Kategorie", "canonical": "Category"}},
                          "namespacealiases": [{"id": 6, "*": "Bild"}]}}
    counts = wikitext_counts("[[Kategorie:A]] [[Category:B]] [[Bild:x.png]] [[Datei:y.png]] [[Foo]]",
                             NamespaceNames.from_siteinfo(siteinfo))
    assert (counts["categories"], counts["media"], counts["wikilinks"]) == (2, 2, 1)


def test_an_anonymous_page_creation():
    f = named(revision_features(page(5, 0, TEXT, user="192.0.2.1", userid=0, anon="", minor="", comment=""),
                                None, None, None))
    assert (f["user_is_anonymous"], f["user_age_seconds"], f["user_edit_count"]) == (1, -1, -1)
    assert (f["page_is_creation"], f["page_age_seconds"]) == (1, 0)
    assert f["parent_wikilinks"] == 0 and f["wikilinks_diff"] == f["revision_wikilinks"]
    assert f["revision_text_bytes_diff"] == f["revision_text_bytes"]
    assert f["revision_minor_edit"] == 1 and f["revision_seconds_since_parent"] == -1


def test_hidden_fields_are_minus_one_and_hidden_text_an_error():
    current = page(2, 1, TEXT, commenthidden="", userhidden="")
    del current["revisions"][0]["comment"]
    f = named(revision_features(current, page(1, 0, PARENT), None, None))
    assert (f["revision_comment_length"], f["revision_is_section_edit"]) == (-1, -1)
    assert (f["user_is_anonymous"], f["is_bot"], f["page_age_seconds"]) == (-1, -1, -1)
    hidden = page(2, 1, TEXT)
    hidden["revisions"][0]["slots"]["main"] = {"texthidden": ""}
    with pytest.raises(HiddenText):
        revision_features(hidden, page(1, 0, PARENT), USER, None)
    with pytest.raises(HiddenText, match="parent"):
        revision_features(page(2, 1, TEXT), hidden, USER, None)


def test_fixture_dumps_become_labelled_api_documents():
    examples = revertrisk_la.examples()
    assert len(examples) >= 50 and 15 <= sum(e.label for e in examples) <= 25
    roles = {e.role for e in examples}
    assert "hidden_text" not in roles and "sysop_restore" not in roles  # no text, or a parent without text
    first = next(e for e in examples if e.role == "vandalism_badwords")
    assert first.revision.page["revisions"][0]["anon"] == "" and first.revision.user is None
    f = named(first.features())
    assert f["user_is_anonymous"] == 1 and f["page_age_seconds"] == 9 * 86400 + 2 * 3600
    spam = named(next(e for e in examples if e.role == "rr_spam_creation").features())
    assert spam["page_is_creation"] == 1 and spam["revision_external_links"] == 2
    bot = next(e for e in examples if e.role == "rr_bot_bicycle")
    assert "bot" in bot.revision.user["groups"] and named(bot.features())["revision_minor_edit"] == 1


def test_labels_come_from_the_manifest():
    dump = revertrisk_la.DUMPS[1]
    every = labelled_examples([dump], lambda entry: entry.get("reverted"))
    manifest = yaml.safe_load(dump.with_suffix(".yaml").read_text())
    assert [(e.role, e.label) for e in every] == [(r["role"], r["reverted"]) for r in manifest["revisions"]]
    assert len(dump_revisions([dump])) == len(every)


def test_cirrusdoc_and_special_export_date_pages():
    first = {"query": {"pages": {
        "7": {"pageid": 7, "cirrusdoc": [{"index": "enwiki_content", "id": "7",
                                           "source": {"create_timestamp": "2020-03-01T12:00:00Z"}}]},
        "8": {"pageid": 8, "cirrusdoc": []}, "9": {"pageid": 9}}}}
    assert cirrus_creations(first) == {7: "2020-03-01T12:00:00Z"}
    assert api_timestamp("2020-03-01T13:00:00+01:00") == "2020-03-01T12:00:00Z" and api_timestamp("x") is None
    xml = (b'<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.11/"><page><title>A</title><ns>0</ns><id>4</id>'
           b'<revision><id>10</id><timestamp>2024-03-03T14:00:00Z</timestamp><contributor><id>3</id></contributor>'
           b'</revision></page><page><title>B</title><id>5</id></page></mediawiki>')
    assert export_creations(xml) == {4: "2024-03-03T14:00:00Z"}
    assert index_url("http://127.0.0.1:8080/w/api.php") == "http://127.0.0.1:8080/w/index.php"

