"""nlp.segment returns exactly jieba's accurate mode without HMM (`lcut(text, HMM=False)`)."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import jieba
import pytest

from nlp.segment import Segmenter
from nlp.tokenizer import TextTokenizer, default_tokenizer

MESSAGES_CSV = Path("/work/shared/data/teddy2020c_messages_unlabeled.csv")

EDGE_CASES = [
    "",
    " ",
    "   ",
    "\n",
    "\n\n\t \n",
    "\r\n",
    "\r\n\r\n",
    "\r\r\n\n",
    "\n\r",
    "行一\r\n行二\r\n\r\n  行三\n",
    "x\r\ny",
    "iPhone12 5G 3.5元",
    "iPhone12 5G 3.5元，华为Mate60 Pro售价6999元",
    "a",
    "1",
    "a1b2 c3",
    "C++和C#哪个好？100%的人不知道",
    "e-mail地址是test_user@example.com",
    "...,,,;;;---___",
    "！！！？？？……——“”《》【】",
    "路灯不亮!!!???谁来管管。。。",
    "ＡＢＣ１２３，全角字符：（括号）",
    "\u3000全角空格\u3000\u3000前后",
    "不间断\u00a0空格",
    "😀表情🎉符号👍，小区😡停车难",
    "繁體中文的句子：臺灣、醫院、垃圾處理問題",
    "罕见字𠀀𪚥与\u9fd6\u9fff区外字",
    "2023年10月1日上午9:30，在A市B区人民路123号",
    "电话13800000000，微信abc_123",
    "小区门口占道经营，油烟很大",
    "来到网易杭研大厦",
    "他说的确实在理",
    "结婚的和尚未结婚的",
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ abcdefghijklmnopqrstuvwxyz 0123456789",
    "一二三四五六七八九十百千万亿",
    "小区门口占道经营，油烟很大。楼下夜宵摊噪音扰民到凌晨2点！" * 500,
    "路" * 3000,
    "的确" * 2000,
]


@pytest.fixture(scope="module")
def tokenizer() -> TextTokenizer:
    return default_tokenizer()


def jieba_lcut(tokenizer: TextTokenizer, text: str) -> list[str]:
    result: list[str] = tokenizer.jieba.lcut(text, HMM=False)
    return result


@pytest.mark.parametrize("text", EDGE_CASES, ids=range(len(EDGE_CASES)))
def test_edge_cases(tokenizer: TextTokenizer, text: str) -> None:
    assert tokenizer.lcut(text) == jieba_lcut(tokenizer, text)
    normalized = tokenizer.normalize(text)
    assert tokenizer.lcut(normalized) == jieba_lcut(tokenizer, normalized)


def test_real_messages(tokenizer: TextTokenizer) -> None:
    if not MESSAGES_CSV.exists():
        pytest.skip(f"{MESSAGES_CSV} (the unlabelled messages) is not on this machine")
    with MESSAGES_CSV.open(encoding="utf-8", newline="") as handle:
        texts = [row["title"] + "\n" + row["detail"] for row in csv.DictReader(handle)]
    assert len(texts) > 1000
    for text in texts:
        for variant in (text, tokenizer.normalize(text)):
            expected = jieba_lcut(tokenizer, variant)
            assert tokenizer.lcut(variant) == expected, variant


def test_user_dictionary_words(tokenizer: TextTokenizer) -> None:
    assert tokenizer.user_words
    for word in tokenizer.user_words:
        for text in (word, f"请问{word}的问题怎么办", f"{word}{word}，A{word}1"):
            assert tokenizer.lcut(text) == jieba_lcut(tokenizer, text)
    assert tokenizer.lcut("楼下夜宵摊噪音扰民") == ["楼下", "夜宵", "摊", "噪音扰民"]


def test_random_texts(tokenizer: TextTokenizer) -> None:
    generator = random.Random(20240611)
    alphabet = (
        "的一是了不在人有我他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自着去之过家"
        "路灯小区噪音扰民垃圾停车网格员社保医院学校繁體臺灣"
        "abcXYZ0189+#&._%-"
        "，。！？、；：“”（）《》…—"
        " \t\n\r\u3000\u00a0"
        "😀ＡＢ１２"
    )
    for _ in range(3000):
        text = "".join(generator.choices(alphabet, k=generator.randint(0, 40)))
        assert tokenizer.lcut(text) == jieba_lcut(tokenizer, text), repr(text)


def test_add_word_is_seen() -> None:
    tokenizer = TextTokenizer()  # a private one: the shared tokenizer is not changed
    text = "住在鸭屎香花园的居民反映鸭屎香路灯不亮"
    assert "鸭屎香花园" not in tokenizer.lcut(text)
    for word, freq in [("鸭屎香花园", 5000), ("屎香路", None), ("鸭屎香花园", 0), ("香路", 9)]:
        tokenizer.add_word(word, freq)
        assert tokenizer.lcut(text) == jieba_lcut(tokenizer, text), (word, freq)
        if word == "鸭屎香花园":
            assert (word in tokenizer.lcut(text)) == bool(freq)
    # Words added to jieba's tokenizer directly are seen as well.
    tokenizer.jieba.add_word("灯不亮", 100000)
    assert tokenizer.lcut(text) == jieba_lcut(tokenizer, text)
    assert tokenizer.lcut(text)[-1] == "灯不亮"


def test_ties_go_to_the_longer_word() -> None:
    # total 1 makes every word of frequency 1 (and every unknown character) weigh log 1 = 0,
    # so all segmentations of these texts tie; jieba keeps the longest first word.
    bare = jieba.Tokenizer()
    bare.FREQ = {"甲": 1, "乙": 1, "甲乙": 1, "甲乙丙": 0, "甲乙丙丁": 1, "a": 1, "ab": 0}
    bare.total = 1
    bare.initialized = True
    segmenter = Segmenter(bare)
    for text in ["甲乙", "甲乙丙", "甲乙丙丁", "乙甲乙丙丁甲", "丙甲", "ab1甲a", "甲乙甲乙丙"]:
        assert segmenter.lcut(text) == bare.lcut(text, HMM=False), text
    assert segmenter.lcut("甲乙丙丁") == ["甲乙丙丁"]
