"""A MediaWiki XML export of many ordinary enwiki edits, generated from a seed.

The hand-written `enwiki-fixture.xml` holds a dozen edits, each one a case (vandalism,
blanking, a revert...). Scoring many models for many revisions in one request (ORES v3,
precaching, `lwt bench ores`) needs more of them: this module writes
`fixture/enwiki-recent-edits.xml` and its manifest, deterministically (a unit test checks
that the shipped files are what `write_edits_dump` writes). Pages get a creation and then
edits of every kind an edit-quality model sees: sourced additions, copyedits, vandalism
with bad words or informal words, key mashing, blanking, reverts and bot fixes, by
registered editors of several groups and ages and by IP editors.
"""

from __future__ import annotations

import datetime as dt
import random
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import yaml

NAMESPACE = "http://www.mediawiki.org/xml/export-0.11/"
DUMP_NAME = "enwiki-recent-edits"
SEED = 12
FIRST_PAGE_ID, FIRST_REV_ID = 1000, 10000
START = dt.datetime(2024, 4, 1, 8, 0, 0)

USERS = [
    {"name": "SteadyScholar", "id": 20, "groups": [], "registration": "20120414090000"},
    {"name": "Copyeditor42", "id": 21, "groups": [], "registration": "20190802101500"},
    {"name": "FreshAccount", "id": 22, "groups": [], "registration": "20240331235000"},
    {"name": "TidyBot", "id": 23, "groups": ["bot"], "registration": "20170105000000"},
    {"name": "PatrolAdmin", "id": 24, "groups": ["sysop"], "registration": "20100620120000"},
]
IPS = ["198.51.100.23", "198.51.100.77", "2001:db8::17"]

PAGES = {
    "Honey bee": "The '''honey bee''' is a eusocial flying insect within the genus ''Apis'' of the bee clade. "
                 "Honey bees are known for their construction of perennial colonial nests from wax.",
    "River Thames": "The '''River Thames''' is a river that flows through southern England, including London. "
                    "At 215 miles, it is the longest river entirely in England.",
    "Basalt": "'''Basalt''' is an aphanitic extrusive igneous rock formed from the rapid cooling of low-viscosity "
              "lava rich in magnesium and iron exposed at or very near the surface of a rocky planet.",
    "Violin": "The '''violin''' is a wooden chordophone, and is the smallest, and thus highest-pitched instrument "
              "in regular use in the violin family.",
    "Kyoto": "'''Kyoto''' is the capital city of Kyoto Prefecture in Japan. Located in the Kansai region on the "
             "island of Honshu, Kyoto forms a part of the Keihanshin metropolitan area.",
    "Penicillin": "'''Penicillins''' are a group of beta-lactam antibiotics originally obtained from "
                  "''Penicillium'' moulds. Penicillin was among the first medications to be effective against "
                  "many bacterial infections.",
    "Chess": "'''Chess''' is a board game for two players. It is an abstract strategy game that involves no hidden "
             "information and no elements of chance.",
    "Lighthouse": "A '''lighthouse''' is a tower, building, or other type of physical structure designed to emit "
                  "light from a system of lamps and lenses and to serve as a beacon for navigational aid.",
    "Sourdough": "'''Sourdough''' is a type of bread that uses the fermentation by naturally occurring yeast and "
                 "lactobacillus bacteria to raise the dough.",
    "Saturn": "'''Saturn''' is the sixth planet from the Sun and the second largest in the Solar System, after "
              "Jupiter. It is a gas giant with an average radius of about nine times that of Earth.",
    "Glacier": "A '''glacier''' is a persistent body of dense ice that is constantly moving under its own weight. "
               "A glacier forms where the accumulation of snow exceeds its ablation over many years.",
    "Printing press": "A '''printing press''' is a mechanical device for applying pressure to an inked surface "
                      "resting upon a print medium, thereby transferring the ink.",
}

SOURCED = [
    "Recent surveys have refined earlier estimates considerably.",
    "The subject has been studied extensively since the nineteenth century.",
    "Several regional variants are recognised by specialists.",
    "Its cultural significance is reflected in literature and art.",
    "Modern research has focused on its long-term conservation.",
    "Historical records describe it in considerable detail.",
]
SOURCES = [
    "Smith, A. (2018). ''A Field Guide''. Cambridge University Press.",
    "Jones, R.; Patel, K. (2020). \"A review\". ''Nature'' 580: 45-52.",
    "Garcia, L. (2015). ''History and Practice''. Oxford University Press.",
    "Nakamura, H. (2021). \"Observations\". ''Science'' 372 (6540): 100-104.",
]
BADWORDS = ["this is so stupid", "what a load of crap", "fuck this article", "he is a dumb idiot",
            "poop poop poop", "SHIT SHIT"]
INFORMALS = ["lol this is cool", "hahaha omg", "yo whats up guys", "u r awesome!!!", "hi mom lol",
             "yeah yeah ok"]
SECTIONS = ["History", "Description", "Distribution", "Uses", "In culture"]
COPYEDITS = [("is a", "is a well-known"), ("the rapid", "the very rapid"), (" and ", " and also "), ("many", "numerous"),
             ("known", "noted"), ("type", "kind")]
KINDS = ["sourced_addition", "copyedit", "vandalism_badwords", "revert", "section", "vandalism_informal",
         "bot_fix", "vandalism_keymash", "revert", "blanking", "revert", "sourced_addition"]


def _sourced(rng: random.Random) -> str:
    return f" {rng.choice(SOURCED)}<ref>{rng.choice(SOURCES)}</ref>"


def _edit(kind: str, text: str, history: list[str], rng: random.Random) -> tuple[str, str]:
    """The new text and an edit summary for one edit of `kind`."""
    paragraphs = text.split("\n\n")
    if kind == "sourced_addition":
        first = paragraphs[0].rstrip("\n")
        paragraphs[0] = first + _sourced(rng) + paragraphs[0][len(first):]
        return "\n\n".join(paragraphs), "Add a sourced sentence"
    if kind == "copyedit":
        old, new = rng.choice([c for c in COPYEDITS if c[0] in text] or COPYEDITS[:1])
        return text.replace(old, new, 1), "Copyedit"
    if kind == "section":
        return f"{text.rstrip()}\n\n== {rng.choice(SECTIONS)} ==\n{rng.choice(SOURCED)}{_sourced(rng)}\n", \
            "New section"
    if kind == "vandalism_badwords":
        words = paragraphs[0].split(" ")
        words.insert(rng.randrange(1, len(words)), rng.choice(BADWORDS))
        paragraphs[0] = " ".join(words)
        return "\n\n".join(paragraphs), ""
    if kind == "vandalism_informal":
        return f"{text.rstrip()}\n{rng.choice(INFORMALS)}\n", ""
    if kind == "vandalism_keymash":
        mash = "".join(rng.choice("asdfghjkl") for _ in range(rng.randrange(12, 30)))
        return f"{mash}{'!' * rng.randrange(3, 9)} {text}", ""
    if kind == "blanking":
        return rng.choice(["", "hello", paragraphs[0][:40]]), ""
    if kind == "revert":
        return history[-2], "Reverted edits to last good version"
    if kind == "bot_fix":
        return f"{text.rstrip()}\n\n{{{{Reflist}}}}\n[[Category:{rng.choice(SECTIONS)}]]\n", \
            "Bot: add reference list and category"
    raise ValueError(kind)


def _author(kind: str, rng: random.Random) -> dict[str, Any]:
    if kind.startswith("vandalism") or kind == "blanking":
        return rng.choice([{"ip": ip} for ip in IPS] + [USERS[2]])
    if kind == "bot_fix":
        return USERS[3]
    if kind == "revert":
        return rng.choice([USERS[4], USERS[0]])
    return rng.choice(USERS[:3])


def _contributor(revision: ET.Element, author: dict[str, Any]) -> None:
    contributor = ET.SubElement(revision, "contributor")
    if "ip" in author:
        ET.SubElement(contributor, "ip").text = author["ip"]
    else:
        ET.SubElement(contributor, "username").text = author["name"]
        ET.SubElement(contributor, "id").text = str(author["id"])


def generate(seed: int = SEED, edits_per_page: int = 5) -> tuple[str, dict[str, Any]]:
    """(the XML export, its manifest): every page's creation and `edits_per_page` edits."""
    rng = random.Random(seed)
    ET.register_namespace("", NAMESPACE)
    root = ET.Element(f"{{{NAMESPACE}}}mediawiki", {"version": "0.11", "{http://www.w3.org/XML/1998/namespace}lang": "en"})
    siteinfo = ET.SubElement(root, "siteinfo")
    for tag, text in (("sitename", "TestWiki"), ("dbname", "enwiki"),
                      ("generator", "liftwing-triton lwt/stack/edits_dump.py"), ("case", "first-letter")):
        ET.SubElement(siteinfo, tag).text = text
    namespaces = ET.SubElement(siteinfo, "namespaces")
    ET.SubElement(namespaces, "namespace", {"key": "0", "case": "first-letter"})
    manifest: dict[str, Any] = {"wiki_db": "enwiki", "users": USERS, "revisions": []}
    rev_id, when, number = FIRST_REV_ID, START, 0
    for page_number, (title, lead) in enumerate(PAGES.items()):
        page = ET.SubElement(root, "page")
        ET.SubElement(page, "title").text = title
        ET.SubElement(page, "ns").text = "0"
        ET.SubElement(page, "id").text = str(FIRST_PAGE_ID + page_number)
        history = [f"{lead}\n"]
        kinds = ["created"] + [KINDS[(page_number + i) % len(KINDS)] for i in range(edits_per_page)]
        for index, kind in enumerate(kinds):
            if kind == "revert" and len(history) < 2:
                kind = "copyedit"
            author = USERS[0] if kind == "created" else _author(kind, rng)
            if kind == "created":
                text, comment = history[0], "Created page"
            else:
                text, comment = _edit(kind, history[-1], history, rng)
                history.append(text)
            revision = ET.SubElement(page, "revision")
            ET.SubElement(revision, "id").text = str(rev_id)
            if index:
                ET.SubElement(revision, "parentid").text = str(rev_id - 1)
            ET.SubElement(revision, "timestamp").text = when.strftime("%Y-%m-%dT%H:%M:%SZ")
            _contributor(revision, author)
            if comment:
                ET.SubElement(revision, "comment").text = comment
            ET.SubElement(revision, "model").text = "wikitext"
            ET.SubElement(revision, "format").text = "text/x-wiki"
            ET.SubElement(revision, "text", {"bytes": str(len(text.encode())),
                                             "{http://www.w3.org/XML/1998/namespace}space": "preserve"}).text = text
            ET.SubElement(revision, "sha1")
            number += 1
            manifest["revisions"].append({"role": f"recent_{number:02d}_{kind}", "title": title, "index": index,
                                          "user": author.get("name") or author["ip"],
                                          "timestamp": when.strftime("%Y-%m-%dT%H:%M:%SZ")})
            rev_id += 1
            when += dt.timedelta(minutes=rng.randrange(3, 90))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode") + "\n", manifest


def write_edits_dump(folder: Path, seed: int = SEED) -> Path:
    """`<folder>/enwiki-recent-edits.xml` and its `.yaml` manifest; returns the dump."""
    xml, manifest = generate(seed)
    dump = Path(folder) / f"{DUMP_NAME}.xml"
    dump.write_text(xml)
    header = "# Generated by lwt/stack/edits_dump.py (write_edits_dump): many ordinary edits for ORES v3 and\n" \
             "# `lwt bench ores`. Regenerate rather than edit by hand.\n"
    dump.with_suffix(".yaml").write_text(header + yaml.safe_dump(manifest, sort_keys=False))
    return dump
