"""Hand-written rules for disposition (consultation or not) and urgency, in one place.

All functions take text already normalised by `TextTokenizer.normalize` (simplified
characters, half-width punctuation). Edit the tables below to tune the behaviour.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from nlp.types import FaqEntry, Urgency

# A message asking something. "?" covers "？" after normalisation.
QUESTION_CUES: tuple[str, ...] = (
    "怎么办理", "如何办理", "怎么申请", "如何申请", "需要什么材料", "需要哪些材料",
    "需要什么手续", "要带什么", "如何", "怎么", "怎样", "请问", "在哪里", "在哪儿",
    "能否", "能不能", "可不可以", "是否可以", "可以吗", "是否", "多久", "多长时间",
    "什么时候", "哪些", "咨询", "?",
)  # fmt: skip

# A message complaining or demanding action: never a mere consultation.
COMPLAINT_CUES: tuple[str, ...] = (
    "投诉", "举报", "反映", "严重", "扰民", "拖欠", "欠薪", "不给", "不发", "不管",
    "没人管", "无人管", "不作为", "不处理", "强烈要求", "要求处理", "请求处理", "尽快处理",
    "违规", "违法", "乱收费", "污染", "欺诈", "被骗", "坏了", "损坏", "太吵", "受不了",
    "霸占", "打人", "威胁", "曝光",
)  # fmt: skip

# Danger terms are regular expressions. Each starts with a plain character, not a group: then
# `re` jumps straight to the positions holding one of those first characters (five times faster).

# Danger to life: the resident must call 110/119/120 and the duty leader is alerted at once.
LIFE_TERMS: tuple[str, ...] = (
    r"着[了过]?火", r"起[了过]?火", r"失火", r"火灾", r"烧起来",
    r"煤气(?:泄漏|泄露|漏气)", r"燃气(?:泄漏|泄露|漏气)", r"天然气(?:泄漏|泄露|漏气)",
    r"一氧化碳中毒", r"中毒",
    r"有人(?:要)?跳楼", r"跳楼(?!价|甩卖|大甩卖)", r"跳河", r"轻生", r"自杀",
    r"持刀", r"拿刀", r"砍人", r"杀人", r"溺水", r"落水", r"触电", r"昏迷",
    r"晕倒", r"不省人事", r"窒息", r"爆炸",
)  # fmt: skip

# Safety risk: the duty leader deals with it today.
URGENT_TERMS: tuple[str, ...] = (
    r"塌方", r"坍塌", r"塌陷", r"倒塌", r"漏电", r"电线(?:裸露|掉落|断了|垂落|老化)",
    r"井盖(?:缺失|丢失|被偷|没了|不见|破损|松动)", r"没有井盖", r"危房", r"危楼",
    r"墙[体屋]?(?:开裂|倾斜)", r"楼[体屋]?(?:开裂|倾斜)", r"房[体屋]?(?:开裂|倾斜)", r"裂缝",
    r"滑坡", r"泥石流", r"高空坠物", r"高空抛物", r"管涌", r"决堤", r"电梯困人", r"困在电梯",
    r"被困", r"消防通道(?:被)?(?:堵|占)",
)  # fmt: skip

# A negation right before a term ("不是着火", "没有着火", "并未起火") cancels it.
NEGATION = re.compile(r"(?:不是|没有|没|并未|并没有|未|未曾|从未|无|并非|不存在|不会)[^\s]{0,2}$")
# A term in a clause about the past ("以前着过火") is cancelled when a later clause says
# the matter is over ("但现在没事").
PAST_MARKER = re.compile(r"以前|之前|曾经|上次|去年|前几年|过去|早年")
RESOLVED = re.compile(r"没事|已经?(?:扑灭|灭了|处理好|修好|解决|排除)|恢复正常|不要紧")
CLAUSE_SPLIT = re.compile(r"[,.!?;:\n\r、，。！？；：]|但是|但|不过|可是")

_LIFE = re.compile("|".join(LIFE_TERMS))
_URGENT = re.compile("|".join(URGENT_TERMS))
# One pass over the text instead of one per cue.
_QUESTION = re.compile("|".join(map(re.escape, QUESTION_CUES)))
_COMPLAINT = re.compile("|".join(map(re.escape, COMPLAINT_CUES)))


def _asserted(pattern: re.Pattern[str], text: str) -> bool:
    """True when a term of `pattern` occurs in `text` without being negated or resolved."""
    if not pattern.search(text):
        return False
    clauses = CLAUSE_SPLIT.split(text)
    for position, clause in enumerate(clauses):
        for match in pattern.finditer(clause):
            before = clause[: match.start()]
            if NEGATION.search(before):
                continue
            if PAST_MARKER.search(before) and any(
                RESOLVED.search(later) for later in clauses[position:]
            ):
                continue
            return True
    return False


def detect_urgency(text: str) -> Urgency:
    """LIFE, URGENT or NORMAL from the danger terms asserted in the text."""
    if _asserted(_LIFE, text):
        return Urgency.LIFE
    if _asserted(_URGENT, text):
        return Urgency.URGENT
    return Urgency.NORMAL


def is_question(text: str) -> bool:
    return _QUESTION.search(text) is not None


def is_complaint(text: str) -> bool:
    return _COMPLAINT.search(text) is not None


def is_consultation(text: str) -> bool:
    """A question that is not a complaint."""
    return is_question(text) and not is_complaint(text)


def match_faq(text: str, faq: Sequence[FaqEntry]) -> FaqEntry | None:
    """The entry with the longest pattern found in the text (patterns are plain substrings).

    Ties go to the entry listed first. Patterns must be normalised like the text.
    """
    best: FaqEntry | None = None
    best_length = 0
    for entry in faq:
        for pattern in entry.patterns:
            if len(pattern) > best_length and pattern in text:
                best, best_length = entry, len(pattern)
    return best
