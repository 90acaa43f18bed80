"""Wikipedia-style lead paragraphs in six languages, written for this project.

Why: the synthetic tokenizer needs a few hundred sentences to train on, the parity check
needs realistic, varied inputs (lengths, languages), and nothing may be downloaded.
`PARAGRAPHS` are the parity inputs; `FIXTURE_LEADS` are the lead paragraphs of the
fixture wiki's description pages (lwt/stack/fixture/descriptions.xml, as the service
extracts them: a unit test keeps the two equal); `training_sentences()` adds templated
sentences so the tokenizer sees a few hundred sentences in all.
"""

from __future__ import annotations

import itertools

# (language, lead paragraph). Short factual-style leads like the ones article-descriptions
# receives from the page-summary endpoint.
PARAGRAPHS: list[tuple[str, str]] = [
    ("en", "Mount Everest is Earth's highest mountain above sea level, located in the Mahalangur Himal "
           "sub-range of the Himalayas. The China-Nepal border runs across its summit point."),
    ("en", "Photosynthesis is a biological process used by many cellular organisms to convert light "
           "energy into chemical energy, which is stored in organic compounds."),
    ("en", "Ada Lovelace was an English mathematician and writer, chiefly known for her work on "
           "Charles Babbage's proposed mechanical general-purpose computer, the Analytical Engine."),
    ("en", "The Danube is the second-longest river in Europe. It flows through much of Central and "
           "Southeastern Europe, from the Black Forest into the Black Sea."),
    ("en", "Jazz is a music genre that originated in the African-American communities of New Orleans "
           "in the late 19th and early 20th centuries."),
    ("en", "Wikipedia is a free online encyclopedia written and maintained by a community of volunteers "
           "through open collaboration and a wiki-based editing system."),
    ("fr", "La tour Eiffel est une tour de fer puddlé de 330 mètres de hauteur située à Paris, à "
           "l'extrémité nord-ouest du parc du Champ-de-Mars en bordure de la Seine."),
    ("fr", "Marie Curie est une physicienne et chimiste polonaise naturalisée française. Elle est la "
           "première femme à avoir reçu le prix Nobel."),
    ("fr", "Le Rhône est un fleuve d'Europe qui prend sa source en Suisse dans le glacier du Rhône et "
           "se jette dans la mer Méditerranée."),
    ("fr", "Lyon est une commune française située au confluent du Rhône et de la Saône. Elle est le "
           "chef-lieu de la région Auvergne-Rhône-Alpes."),
    ("de", "Berlin ist die Hauptstadt und ein Land der Bundesrepublik Deutschland. Die Stadt ist mit "
           "rund 3,8 Millionen Einwohnern die bevölkerungsreichste Gemeinde Deutschlands."),
    ("de", "Johann Sebastian Bach war ein deutscher Komponist, Violinist, Organist und Cembalist des "
           "Barock. In seiner Hauptschaffensperiode war er Thomaskantor in Leipzig."),
    ("de", "Die Zugspitze ist mit 2962 Metern der höchste Gipfel des Wettersteingebirges und zugleich "
           "der höchste Berg Deutschlands."),
    ("de", "Der Bodensee liegt im nördlichen Alpenvorland und wird vom Rhein durchflossen. An ihn "
           "grenzen Deutschland, Österreich und die Schweiz."),
    ("es", "Madrid es un municipio y una ciudad de España. La localidad, con categoría histórica de "
           "villa, es la capital del Estado y de la Comunidad de Madrid."),
    ("es", "Gabriel García Márquez fue un escritor y periodista colombiano. Recibió el Premio Nobel de "
           "Literatura en 1982 por sus novelas y cuentos."),
    ("es", "El Amazonas es un río de América del Sur que atraviesa Perú, Colombia y Brasil. Es el río "
           "más caudaloso del mundo."),
    ("es", "La fotosíntesis es la conversión de materia inorgánica en materia orgánica gracias a la "
           "energía que aporta la luz."),
    ("it", "Roma è la capitale d'Italia. È il comune più popoloso e più esteso d'Italia ed è una delle "
           "città più antiche d'Europa."),
    ("it", "Leonardo da Vinci è stato un inventore, artista e scienziato italiano, considerato uno dei "
           "più grandi geni dell'umanità."),
    ("it", "L'Etna è un vulcano situato nella parte orientale della Sicilia, tra le province di Catania "
           "e Messina. È il vulcano attivo più alto della placca euroasiatica."),
    ("nl", "Amsterdam is de hoofdstad van het Koninkrijk der Nederlanden. De stad ligt in de provincie "
           "Noord-Holland aan de monding van de Amstel en het IJ."),
    ("nl", "Vincent van Gogh was een Nederlands kunstschilder. Hij wordt beschouwd als een van de "
           "grootste schilders uit de westerse kunstgeschiedenis."),
    ("nl", "De Rijn is een rivier in West-Europa die ontspringt in Zwitserland en via Duitsland en "
           "Nederland uitmondt in de Noordzee."),
    ("en", "Kyoto is a city in Japan."),
    ("de", "Ulm ist eine Stadt."),
]

# The first paragraph of each page of the fixture wiki's descriptions dump, as plain text.
FIXTURE_LEADS: dict[str, tuple[str, str]] = {
    "Danube": ("en", "The Danube is the second-longest river in Europe, after the Volga. It flows through much of "
                     "Central and Southeastern Europe, from the Black Forest into the Black Sea."),
    "Donau": ("de", "Die Donau ist nach der Wolga der zweitlängste Fluss in Europa. Sie entspringt im Schwarzwald "
                    "und mündet ins Schwarze Meer."),
    "Danubio": ("it", "Il Danubio è il secondo fiume più lungo d'Europa dopo il Volga. Nasce nella Foresta Nera e "
                      "sfocia nel Mar Nero."),
    "Eiffel Tower": ("en", "The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris, France. "
                           "It is named after the engineer Gustave Eiffel, whose company designed and built the "
                           "tower."),
    "Tour Eiffel": ("fr", "La tour Eiffel est une tour de fer puddlé de 330 mètres de hauteur située à Paris, à "
                          "l'extrémité nord-ouest du parc du Champ-de-Mars en bordure de la Seine."),
    "Eiffelturm": ("de", "Der Eiffelturm ist ein 330 Meter hoher Eisenfachwerkturm in Paris. Er steht im Westen "
                         "der Stadt auf dem Marsfeld am Ufer der Seine."),
    "Ada Lovelace": ("en", "Augusta Ada King, Countess of Lovelace, was an English mathematician and writer, "
                           "chiefly known for her work on Charles Babbage's proposed mechanical general-purpose "
                           "computer, the Analytical Engine."),
    "Jonas Berger": ("en", "Jonas Berger (born 4 May 1975) is an Austrian glaciologist and mountaineer. He leads "
                           "the alpine ice research group at the University of Innsbruck."),
}

# Templated sentences: many entities x a few frames per language, for tokenizer volume.
_PLACES = ["Paris", "Berlin", "Madrid", "Rome", "Lisbon", "Vienna", "Prague", "Warsaw", "Oslo",
           "Dublin", "Athens", "Helsinki", "Budapest", "Zagreb", "Sofia", "Riga"]
_COUNTRIES = ["France", "Germany", "Spain", "Italy", "Portugal", "Austria", "Czechia", "Poland",
              "Norway", "Ireland", "Greece", "Finland", "Hungary", "Croatia", "Bulgaria", "Latvia"]
_FRAMES = {
    "en": ["{p} is the capital and largest city of {c}.",
           "{p} is a city in {c} with a long history of trade and culture.",
           "The river that flows through {p} is one of the longest in {c}."],
    "fr": ["{p} est la capitale et la plus grande ville de {c}.",
           "{p} est une ville de {c} connue pour son histoire et sa culture."],
    "de": ["{p} ist die Hauptstadt und größte Stadt von {c}.",
           "{p} ist eine Stadt in {c} mit einer langen Geschichte."],
    "es": ["{p} es la capital y la ciudad más poblada de {c}.",
           "{p} es una ciudad de {c} con una larga historia."],
    "it": ["{p} è la capitale e la città più popolosa di {c}.",
           "{p} è una città di {c} con una lunga storia."],
    "nl": ["{p} is de hoofdstad en grootste stad van {c}.",
           "{p} is een stad in {c} met een lange geschiedenis."],
}

# Short descriptions, the kind of text the model outputs.
DESCRIPTIONS = ["highest mountain on Earth", "biological process", "English mathematician (1815–1852)",
                "river in Central Europe", "music genre", "free online encyclopedia",
                "tour métallique à Paris", "physicienne et chimiste", "fleuve d'Europe",
                "Hauptstadt Deutschlands", "deutscher Komponist des Barock", "capital de España",
                "escritor colombiano", "capitale d'Italia", "hoofdstad van Nederland"]


def training_sentences() -> list[str]:
    """Lead sentences, templated sentences and descriptions: a few hundred lines."""
    lines: list[str] = []
    for _, paragraph in PARAGRAPHS + list(FIXTURE_LEADS.values()):
        lines += [s.strip() + "." for s in paragraph.split(". ") if s.strip()]
    for lang, frames in _FRAMES.items():
        for frame, (place, country) in itertools.product(frames, zip(_PLACES, _COUNTRIES)):
            lines.append(frame.format(p=place, c=country))
    lines += DESCRIPTIONS
    return lines
