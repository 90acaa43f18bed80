"""The parity texts, generated at export time (seeded, so every export checks the same texts).

Why generated: no data set can be downloaded here, and parity must hold on what a
language-id or topic service really receives: sentences in 39 languages, random words in
17 scripts (CJK beyond the BMP included), emoji with joiners and skin tones, mixed text,
whitespace fastText does not split on (NBSP, U+2003, U+3000, ZWSP, U+0085, ...), empty-ish
strings, literal `</s>` and `__label__x` tokens, combining accents, texts of 800-3,000
words and texts with newlines. `vocabulary_texts` adds texts made of the model's own words
(a topic model's vocabulary is Wikidata ids, which no natural text contains).
"""

from __future__ import annotations

import random
from typing import Callable, Sequence

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Wikipedia is a free online encyclopedia written collaboratively by volunteers.",
    "La Wikipédia est une encyclopédie universelle et multilingue.",
    "Der schnelle braune Fuchs springt über den faulen Hund.",
    "El rápido zorro marrón salta sobre el perro perezoso.",
    "A rápida raposa marrom pula sobre o cão preguiçoso.",
    "Il veloce volpe marrone salta sopra il cane pigro.",
    "Szybki brązowy lis przeskakuje nad leniwym psem.",
    "Hızlı kahverengi tilki tembel köpeğin üzerinden atlar.",
    "Con cáo nâu nhanh nhẹn nhảy qua con chó lười biếng.",
    "De snelle bruine vos springt over de luie hond.",
    "Den snabba bruna räven hoppar över den lata hunden.",
    "Nopea ruskea kettu hyppää laiskan koiran yli.",
    "Gyors barna róka átugrik a lusta kutya felett.",
    "Rychlá hnědá liška skáče přes líného psa.",
    "Быстрая коричневая лиса прыгает через ленивую собаку.",
    "Швидка бура лисиця стрибає через лінивого пса.",
    "Брза смеђа лисица скаче преко лењог пса.",
    "Η γρήγορη καφέ αλεπού πηδά πάνω από τον τεμπέλη σκύλο.",
    "الثعلب البني السريع يقفز فوق الكلب الكسول.",
    "השועל החום המהיר קופץ מעל הכלב העצלן.",
    "敏捷的棕色狐狸跳过了懒狗。",
    "維基百科是一個自由內容的網路百科全書。",
    "素早い茶色の狐がのろまな犬を飛び越える。",
    "ウィキペディアはフリーの百科事典です。",
    "빠른 갈색 여우가 게으른 개를 뛰어넘는다.",
    "तेज़ भूरी लोमड़ी आलसी कुत्ते के ऊपर कूदती है।",
    "দ্রুত বাদামী শিয়াল অলস কুকুরের উপর লাফ দেয়।",
    "விரைவான பழுப்பு நரி சோம்பேறி நாயின் மேல் குதிக்கிறது.",
    "สุนัขจิ้งจอกสีน้ำตาลกระโดดข้ามสุนัขขี้เกียจ",
    "სწრაფი ყავისფერი მელა ხტება ზარმაც ძაღლზე.",
    "Արագ շագանակագույն աղվեսը ցատկում է ծույլ շան վրայով.",
    "روباه قهوه‌ای سریع از روی سگ تنبل می‌پرد.",
    "تیز بھوری لومڑی سست کتے کے اوپر چھلانگ لگاتی ہے۔",
    "ጥሩ ቀን ነው ዛሬ።",
    "Ang mabilis na kayumangging soro ay tumalon sa tamad na aso.",
    "Mbweha mwepesi wa kahawia anaruka juu ya mbwa mvivu.",
    "Bu tez qo'ng'ir tulki dangasa itning ustidan sakraydi.",
    "Шапшаң күрең түлкі жалқау иттің үстінен секіреді.",
]

SCRIPT_RANGES: dict[str, list[tuple[int, int]]] = {
    "latin": [(0x61, 0x7A), (0xE0, 0xFF), (0x100, 0x17F)],
    "cyrillic": [(0x430, 0x44F), (0x450, 0x45F)],
    "greek": [(0x3B1, 0x3C9), (0x3AC, 0x3AF)],
    "arabic": [(0x621, 0x64A)],
    "hebrew": [(0x5D0, 0x5EA)],
    "cjk": [(0x4E00, 0x9FFF)],
    "hiragana": [(0x3041, 0x3096)],
    "katakana": [(0x30A1, 0x30FA)],
    "hangul": [(0xAC00, 0xD7A3)],
    "devanagari": [(0x905, 0x939), (0x93E, 0x94C)],
    "thai": [(0xE01, 0xE2E), (0xE30, 0xE39)],
    "georgian": [(0x10D0, 0x10F0)],
    "armenian": [(0x561, 0x586)],
    "bengali": [(0x985, 0x9B9)],
    "tamil": [(0xB85, 0xBB9)],
    "ethiopic": [(0x1200, 0x1248)],
    "astral_cjk": [(0x20000, 0x2A6DF)],
}

EMOJI = ["😀", "😂", "🙂", "🙃", "❤️", "👍🏽", "👨‍👩‍👧‍👦", "🇩🇪", "🇯🇵", "🏳️‍🌈", "🚀", "🔥", "🎉",
         "✨", "🤖", "🧪", "☕", "🐍", "🦊", "🌍"]
ODD_WHITESPACE = ["\t", "\v", "\f", "\r", "\0", "\u00a0", "\u2003", "\u3000", "\u200b",
                  "\u200d", "\u2028", "\x1c", "\x85", "\ufeff"]
PUNCT = [".", ",", "!", "?", "(", ")", "«", "»", "“", "”", "—", "-", ":", ";", "…", "'", '"',
         "#", "@", "/", "&", "%", "$", "€", "¥", "1", "42", "3.14", "2024-01-01"]


def random_word(rng: random.Random, script: str, lo: int = 1, hi: int = 9) -> str:
    ranges = SCRIPT_RANGES[script]
    n = rng.randint(lo, hi)
    out = []
    for _ in range(n):
        a, b = rng.choice(ranges)
        out.append(chr(rng.randint(a, b)))
    return "".join(out)


def _sentence(rng: random.Random) -> str:
    return rng.choice(SENTENCES)


def _words_from_sentences(rng: random.Random, n: int) -> str:
    words = [w for s in rng.sample(SENTENCES, 3) for w in s.split()]
    return " ".join(rng.choice(words) for _ in range(n))


def _script_text(rng: random.Random) -> str:
    script = rng.choice(list(SCRIPT_RANGES))
    sep = "" if script in ("thai", "cjk", "hiragana", "katakana") and rng.random() < 0.5 else " "
    return sep.join(random_word(rng, script) for _ in range(rng.randint(1, 12)))


def _mixed(rng: random.Random) -> str:
    parts = []
    for _ in range(rng.randint(2, 10)):
        k = rng.random()
        if k < 0.3:
            parts.append(rng.choice(_sentence(rng).split()))
        elif k < 0.5:
            parts.append(rng.choice(EMOJI))
        elif k < 0.7:
            parts.append(random_word(rng, rng.choice(list(SCRIPT_RANGES))))
        elif k < 0.85:
            parts.append(rng.choice(PUNCT))
        else:
            parts.append(rng.choice(["https://en.wikipedia.org/wiki/Main_Page", "user@example.org",
                                     "Q42", "__label__en", "__label__xx", "</s>", "<s>", "<", ">",
                                     "__label__", "C++", "a", "I"]))
    return rng.choice([" ", "  ", "\t", " \t "]).join(parts)


def _emoji(rng: random.Random) -> str:
    return "".join(rng.choice(EMOJI) + rng.choice(["", " ", ""]) for _ in range(rng.randint(1, 8)))


def _whitespace_heavy(rng: random.Random) -> str:
    words = _words_from_sentences(rng, rng.randint(1, 10)).split(" ")
    out = ""
    for w in words:
        out += w + "".join(rng.choice(ODD_WHITESPACE + [" "]) for _ in range(rng.randint(1, 3)))
    return rng.choice(["", " ", "\t", "\r"]) + out


def _empty_ish(rng: random.Random) -> str:
    return rng.choice(["", " ", "  ", "\t", "\r", "\0", " \t\v\f\r ", "\u00a0", ".", "a", "</s>",
                       "__label__en", "__label__en __label__fr", "<", ">", "<>", "\u200b", "é"])


def _long(rng: random.Random) -> str:
    return _words_from_sentences(rng, rng.randint(800, 3000))


def _combining(rng: random.Random) -> str:
    base = _sentence(rng)
    return "".join(c + ("\u0301" if rng.random() < 0.2 else "") for c in base)


def _with_newline(rng: random.Random) -> str:
    return _sentence(rng) + rng.choice(["\n", "\n\n", "\r\n"]) + _sentence(rng)


GENERATORS: list[tuple[str, Callable[[random.Random], str], float]] = [
    ("sentence", _sentence, 0.18),
    ("sentence_words", lambda r: _words_from_sentences(r, r.randint(1, 40)), 0.16),
    ("script", _script_text, 0.2),
    ("mixed", _mixed, 0.14),
    ("emoji", _emoji, 0.06),
    ("whitespace", _whitespace_heavy, 0.1),
    ("empty_ish", _empty_ish, 0.05),
    ("combining", _combining, 0.04),
    ("long", _long, 0.02),
    ("newline", _with_newline, 0.05),
]


def generate_texts(n: int = 1200, seed: int = 0) -> list[tuple[str, str]]:
    """(kind, text) pairs; texts of kind 'newline' contain '\\n'."""
    rng = random.Random(seed)
    kinds = [g for g in GENERATORS]
    weights = [w for _, _, w in kinds]
    out = [("sentence", s) for s in SENTENCES]  # every fixed sentence once
    while len(out) < n:
        name, fn, _ = rng.choices(kinds, weights)[0]
        out.append((name, fn(rng)))
    return out[:n]


def vocabulary_texts(words: Sequence[str], n: int, seed: int = 1) -> list[str]:
    """Texts of the model's own words (word n-grams included), some with unknown tokens."""
    rng = random.Random(seed)
    known = [w for w in words if w != "</s>"]
    if not known:
        return []
    out = []
    for _ in range(n):
        text = [rng.choice(known) for _ in range(rng.randint(1, 40))]
        if rng.random() < 0.3:
            text += [random_word(rng, rng.choice(list(SCRIPT_RANGES))) for _ in range(rng.randint(1, 5))]
        rng.shuffle(text)
        out.append(" ".join(text))
    return out


def parity_texts(words: Sequence[str], n_general: int = 1200, n_vocabulary: int = 300,
                 seed: int = 0) -> list[str]:
    """The texts every fastText export is checked on."""
    return [t for _, t in generate_texts(n_general, seed)] + vocabulary_texts(words, n_vocabulary, seed + 1)
