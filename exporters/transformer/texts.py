"""Texts the transformer exporter runs through both the original and the export.

SAMPLE_TEXTS (many lengths and scripts) are the parity inputs and, one by one and as one
padded batch, int8's calibration; WIDE_TEXTS (about 30 languages and scripts, registers,
1 to 300 tokens) are never calibrated on: int8 must also hold on them."""

from __future__ import annotations

SAMPLE_TEXTS = [
    "Photosynthesis converts light energy into chemical energy.",
    "PLANTS ARE STUPID lol hahahahaha",
    "Mount Everest is Earth's highest mountain above sea level, located in the Himalayas.",
    "asdfasdf jkjkjkjk",
    "Der Jazz ist eine um 1900 in den Südstaaten der USA entstandene Musikrichtung.",
    "La photosynthèse est le processus bioénergétique qui permet à des organismes de synthétiser de la matière.",
    "ジャズは19世紀末から20世紀初頭にかけてアメリカ南部の都市を中心に発展した音楽ジャンルである。",
    "التمثيل الضوئي هو عملية تحويل الطاقة الضوئية إلى طاقة كيميائية.",
    "ok",
    "The first recorded ascent was made in 1953 by Tenzing Norgay and Edmund Hillary of the British "
    "expedition; since then thousands of climbers have reached the summit by the southeast ridge or the "
    "north ridge, and the mountain has become a symbol of human endurance and of the commercialisation "
    "of high-altitude climbing.",
    "{{Infobox mountain | elevation_m = 8848 }} '''Mount Everest''' [[Himalayas]] <ref>Unsworth</ref>",
    "yo jazz is sooo cool u guys should totally listen to it dude!!!!",
]

_LONG_EN = (
    "Wikipedia is a free online encyclopedia written and maintained by a community of volunteers through open "
    "collaboration and a wiki-based editing system. It is the largest and most-read reference work in history. "
    "It has consistently ranked among the ten most visited websites in the world, and as of 2024 is operated by "
    "the Wikimedia Foundation, an American nonprofit organization funded mainly by donations from readers. "
    "Initially available only in English, editions in other languages were quickly developed. The English "
    "Wikipedia has millions of articles, and editors argue about verifiability, neutrality and notability on "
    "talk pages that are often longer than the articles themselves. ")

WIDE_TEXTS = [
    # English, several registers and lengths
    "a", "The", "Hello world!", "Is this edit vandalism?", "DELETE THIS PAGE NOW!!!!!!!!",
    "lmaooo 😂😂😂 this article is trash 💩", "http://example.com/wiki/Special:Random?foo=bar&x=1",
    "def f(x): return x ** 2  # squares a number", "SELECT * FROM revision WHERE rev_id = 12345;",
    "3.14159 2.71828 1.41421 1729 6.022e23", "== References ==\n{{Reflist}}\n[[Category:Mountains of Nepal]]",
    _LONG_EN, (_LONG_EN * 3)[:1500],
    # Latin-script European
    "Die Photosynthese ist ein physiologischer Prozess zur Erzeugung von energiereichen Biomolekülen.",
    "El monte Everest es la montaña más alta del planeta Tierra, con una altitud de 8848 metros.",
    "Il jazz è un genere musicale nato agli inizi del XX secolo negli Stati Uniti.",
    "A fotossíntese é um processo físico-químico realizado pelos seres vivos clorofilados.",
    "De fotosynthese is het proces waarbij lichtenergie wordt omgezet in chemische energie.",
    "Fotosynteza to proces wytwarzania związków organicznych z materii nieorganicznej.",
    "Fotosentez, yeşil bitkilerin ışık enerjisini kimyasal enerjiye dönüştürdüğü süreçtir.",
    "Fotosynteesi on prosessi, jossa kasvit muuttavat valon kemialliseksi energiaksi.",
    "Quang hợp là quá trình thu nhận và chuyển hóa năng lượng ánh sáng Mặt trời.",
    "Fotosintesis adalah suatu proses biokimia pembentukan zat makanan karbohidrat.",
    "Usanisinuru ni mchakato wa mimea kutengeneza chakula kwa kutumia mwanga wa jua.",
    # Cyrillic, Greek
    "Фотосинтез — сложный химический процесс преобразования энергии видимого света.",
    "Джаз — форма музыкального искусства, возникшая в конце XIX — начале XX века в США.",
    "Фотосинтеза је процес у коме биљке претварају светлосну енергију у хемијску.",
    "Η φωτοσύνθεση είναι η διαδικασία μετατροπής της φωτεινής ενέργειας σε χημική.",
    # CJK
    "光合作用是植物、藻类利用光能，把二氧化碳和水转化为有机物并释放氧气的过程。",
    "爵士乐是一种起源于美国的音乐形式。",
    "珠穆朗玛峰是喜马拉雅山脉的主峰，是世界海拔最高的山峰。",
    "光合成とは、光エネルギーを化学エネルギーに変換する生化学反応のことである。",
    "エベレストは、ヒマラヤ山脈にある世界最高峰の山である。",
    "これはテストです。",
    "ウィキペディアは、ウィキメディア財団が運営する多言語インターネット百科事典である。誰でも編集でき、"
    "記事の数は日本語版だけで百万を超える。編集者はノートページで検証可能性や中立性について議論する。",
    "광합성은 식물이 빛에너지를 이용하여 이산화탄소와 물로부터 유기물을 합성하는 과정이다.",
    "재즈는 19세기 말 미국 남부에서 시작된 음악 장르이다.",
    # RTL
    "الجاز هو نوع من الموسيقى نشأ في الولايات المتحدة في أواخر القرن التاسع عشر.",
    "ويكيبيديا هي موسوعة متعددة اللغات مبنية على الويب ذات محتوى حر.",
    "פוטוסינתזה היא תהליך שבו צמחים הופכים אנרגיית אור לאנרגיה כימית.",
    "فوتوسنتز فرایندی است که در آن گیاهان انرژی نور را به انرژی شیمیایی تبدیل می‌کنند.",
    # Indic, SE Asian, others
    "प्रकाश संश्लेषण वह प्रक्रिया है जिसमें पौधे प्रकाश ऊर्जा को रासायनिक ऊर्जा में बदलते हैं।",
    "সালোকসংশ্লেষণ হলো সেই প্রক্রিয়া যার মাধ্যমে উদ্ভিদ খাদ্য তৈরি করে।",
    "ஒளிச்சேர்க்கை என்பது தாவரங்கள் உணவு தயாரிக்கும் செயல்முறையாகும்.",
    "การสังเคราะห์ด้วยแสงเป็นกระบวนการที่พืชเปลี่ยนพลังงานแสงเป็นพลังงานเคมี",
    "ფოტოსინთეზი არის პროცესი, რომლის დროსაც მცენარეები სინათლის ენერგიას გარდაქმნიან.",
    "Ֆոտոսինթեզը բույսերի կողմից լույսի էներգիայի փոխակերպումն է քիմիականի։",
    "ፎቶሲንተሲስ ዕፅዋት የፀሐይ ብርሃንን ወደ ኬሚካል ኃይል የሚቀይሩበት ሂደት ነው።",
    # mixed / noise
    "Everest (エベレスト, 珠穆朗玛峰, Джомолунгма) is 8,848 m tall.",
    "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!", "............", "🙂🙃😉😊😇🥰😍🤩😘😗☺️😚😙🥲",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "ALL CAPS SHOUTING ABOUT THE ENCYCLOPEDIA AND ITS ADMINISTRATORS",
]

ALL_TEXTS = SAMPLE_TEXTS + WIDE_TEXTS
