"""Hand-written rules, in one place: danger (urgency and hazard), intent and FAQ matching.

All functions take text already normalised by `TextTokenizer.normalize` (simplified
characters, half-width punctuation, lower case). Edit the tables below to tune the behaviour
and measure with `appealbot nlp eval` before and after.

Danger is decided clause by clause. A danger term counts as an ongoing emergency (LIFE) only
when it is asserted: not negated right before it (没有着火), not in a hypothetical or a risk
(一旦/万一/如果/隐患/可能会…: a hazard, URGENT at most), not in a clause about the past unless
the text says it is happening again (去年着过火), and not resolved later (已经扑灭). Idioms
that contain danger words (杀人不见血, 生意火爆, 跳楼价) are blanked out first.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from re import _constants, _parser  # type: ignore[attr-defined]  # re's own parser (no stubs)
from typing import Any

from nlp.types import FaqEntry, Hazard, Urgency


def _first_chars(items: Any) -> set[str] | None:
    """The characters a match of the parsed pattern can start with; None when unknown (a
    class, a wildcard, or a pattern that can match the empty string)."""
    found: set[str] = set()
    for op, arg in items:
        if op is _constants.LITERAL:
            return found | {chr(arg)}
        if op is _constants.IN:
            members = list(arg)
            if any(kind is not _constants.LITERAL for kind, _ in members):
                return None
            return found | {chr(code) for _, code in members}
        if op is _constants.ASSERT_NOT or op is _constants.ASSERT:
            direction, _ = arg
            if direction < 0:  # a lookbehind consumes nothing
                continue
            return None
        if op is _constants.SUBPATTERN:
            return _union(found, [list(arg[-1])])
        if op is _constants.BRANCH:
            return _union(found, [list(branch) for branch in arg[1]])
        if op is _constants.MAX_REPEAT or op is _constants.MIN_REPEAT:
            low, _, sub = arg
            inner = _first_chars(list(sub))
            if inner is None:
                return None
            found |= inner
            if low > 0:
                return found
            continue
        return None
    return None


def _union(found: set[str], alternatives: Any) -> set[str] | None:
    for alternative in alternatives:
        chars = _first_chars(alternative)
        if chars is None:
            return None
        found = found | chars
    return found


def compile_terms(pattern: str) -> re.Pattern[str]:
    """`pattern` compiled, led by a lookahead for the characters a match can start with,
    where they are known. `re` tries every alternative of a long alternation at every
    position; the lookahead rejects most positions at once (5-6x faster on long texts)."""
    chars = _first_chars(list(_parser.parse(pattern)))
    if not chars:
        return re.compile(pattern)
    return re.compile(f"(?=[{''.join(map(re.escape, sorted(chars)))}])(?:{pattern})")


# Ongoing danger to life, per hazard (the advice differs). Each term starts with a plain
# character where possible, so that `re` can skip ahead to it. `_C` is "within the clause".
_C = r"[^,.!?;]"
LIFE_TERMS: dict[Hazard, tuple[str, ...]] = {
    Hazard.GAS: (
        r"(?:煤气|燃气|天然气|液化气|瓦斯)(?:的)?(?:味|气味|泄漏|泄露|漏气|漏了|外泄|管(?:道)?(?:破|裂|断|爆))",
        r"漏气", r"一氧化碳", r"煤气中毒", r"中毒", r"臭鸡蛋味",
        r"(?:一|满)屋子?(?:都是)?(?:的)?(?:煤气|燃气)?(?:味|气味)",
        rf"(?:燃气|煤气|液化气|灶|阀|罐|管|表){_C}{{0,12}}(?:嘶嘶|呲呲|滋滋|嗤嗤|哧哧|丝丝)",
        rf"(?:气味|味道|臭味){_C}{{0,8}}(?:漏了|泄漏|泄露|漏气)",
        r"(?:煤气|燃气|天然气|液化气)管(?:道|子)?(?:被)?(?:割|挖|砸|撞|压)(?:开|破|断|裂)",
        r"(?:煤气|燃气|液化气|气)罐子?(?:倒了|漏了|漏气|泄漏)",
        rf"(?:烧炭|炭火|炭盆|煤炉|蜂窝煤|煤球|炉子){_C}{{0,16}}"
        r"(?:叫不醒|喊不醒|头晕|头疼|头痛|想吐|呕吐|站不稳|昏|晕)",
    ),
    Hazard.FIRE: (
        r"着[了过]?火", r"起[了过]?火", r"失火", r"烧起来", r"烧着了", r"冒(?:黑|白|浓)?烟",
        r"浓烟", r"火势", r"火光", r"火苗", r"明火", r"大火", r"爆炸", r"炸了",
        r"(?:草|垛|房|屋|楼|车|柴|山|林|厨房|锅|店|库|瓶|棚|堆|树|田)子?着了",
        r"有火(?![车锅气花])", r"着起来", r"火(?:好|很|太|特别|非常|越来越)+大",
        r"火(?:窜|蹿|冒|扑)(?:出来|起来|上来|进来)", r"突然(?:冒|有)(?:黑|浓|白)?烟",
        r"烧到(?:了)?[^,.!?;]{0,6}(?:树林|林子|山上|房子|屋|家|楼|车)",
        rf"烟{_C}{{0,6}}呛", r"呛得(?:睁不开|喘不|受不|直咳)",
        r"(?:插座|插头|电线|电表|电箱|配电箱|充电器|电瓶|电池|电器)(?:烧了|烧起来|着了|冒烟|起火|炸了)",
    ),
    Hazard.ELECTRIC: (
        r"触电", r"电到人", r"被电死", r"电死人", r"被电(?:打|击|到|伤|倒)", r"电倒了",
        r"电打了", r"电火花",
        r"(?:冒|打|闪|噼里啪啦)(?:电)?火花",
        rf"(?:电线|高压线|电缆|根线|条线){_C}{{0,4}}(?:掉|落|断|垂|拖|耷拉){_C}{{0,6}}(?:地|下|路|水)",
        rf"(?:电线|高压线|电缆|根线|条线){_C}{{0,10}}(?:滋滋|呲呲|噼啪|噼里啪啦|冒火)",
        rf"(?:电线|高压线|电缆){_C}{{0,6}}(?:搭|碰|挂|掉|落|垂|拖|泡)(?:在|到|进|入)?{_C}{{0,3}}"
        r"(?:地上|路上|水|塘|河|池|田|铁|栏杆|护栏|车上|人)",
        rf"漏电{_C}{{0,6}}(?:人|电到)",
    ),
    Hazard.VIOLENCE: (
        r"持刀", r"拿(?:着)?(?:一?把)?(?:菜|砍|尖|水果|长|西瓜)?刀",
        r"拿(?:着)?(?:斧|棍|铁棍|锄头|铁锹|酒瓶|砖头)", r"掏(?:出)?(?:刀|枪)",
        r"砍人", r"捅人", r"砸人", r"捅了", r"捅谁", r"砍谁", r"被(?:砍|捅|刺)(?:伤|了)",
        r"砍伤", r"捅伤", r"刺伤", r"行凶", r"杀人", r"要杀", r"打死", r"打群架", r"打起来了",
        r"跳楼(?!价|甩卖|大甩卖)", r"跳河", r"跳江", r"跳湖", r"跳桥", r"跳下去",
        r"要跳(?!舞|绳|槽|广场|高|远|过|出)", r"想跳(?!舞|绳|槽|广场)",
        r"轻生", r"自杀", r"寻死", r"不想活", r"想死", r"割腕", r"喝农药", r"安眠药",
        r"吃了?(?:一整?瓶|一大把|好多|一瓶)(?:的)?药",
        r"(?:误|喝了)(?:喝|食)?了?(?:农药|敌敌畏|百草枯|老鼠药)",
        r"遗书", r"遗言", r"留了?(?:张|封)?纸条",
        r"(?:栏杆|护栏|窗台|窗户)外", rf"(?:楼顶|天台|窗台|楼边|桥){_C}{{0,8}}(?:边上|边缘|外面)",
        r"悬在(?:外面|半空|空中)", r"天台边", r"楼顶边",
        r"(?:正在|在)(?:打人|打架|砸)", r"在打(?:人|老人|小孩|孩子|女人|一个|他|她|我|学生|老婆)",
        rf"围着{_C}{{0,6}}打", r"殴打", r"暴打", r"毒打",
        rf"打架{_C}{{0,4}}(?:流血|受伤|见血|拿刀)", rf"(?:被打|打得){_C}{{0,4}}(?:流血|头破|昏)",
        rf"家暴{_C}{{0,4}}(?:正在|现在|又在)",
        r"(?:硬|强行|强)(?:抱|拉|拽|拖|塞)(?:上|进|走)", r"抢(?:走)?(?:孩子|小孩)", r"绑架",
        r"劫持", r"拐走", r"(?:孩子|小孩|女人|老人)(?:一直|在)?(?:哭喊|惨叫|尖叫)", r"喊救命",
    ),
    Hazard.MEDICAL: (
        r"被困", r"困在", r"(?:卡|关|困|锁)在(?:电梯|车|屋|房|里)",
        rf"被(?:关|锁|困|卡)(?:在)?{_C}{{0,4}}里",
        rf"电梯[^,.!?;没不未]{{0,6}}(?:困|卡住|关){_C}{{0,3}}人",
        rf"电梯{_C}{{0,4}}(?:卡|停)在{_C}{{0,8}}(?:中间|之间)",
        r"噎住", r"卡住喉咙", r"喘不(?:上|过)气", r"憋紫", r"(?:脸|嘴唇)(?:都)?发紫",
        r"(?:从|自)[^,.!?;]{0,6}(?:掉|摔|跌)下来", r"(?:腰|腿|脚|身子)(?:都)?动不了",
        r"没(?:有)?知觉",
        r"躺在[^,.!?;]{0,6}(?:不动|中间)", r"血止不住", r"止不住血", r"流了一地",
        r"被[^,.!?;]{0,3}车撞(?:倒|伤|飞)", r"压着人",
        r"溺水", r"落水", rf"掉(?:进|到|在|入)?{_C}{{0,3}}(?:河|水|塘|井|湖|江|海|池|库)",
        r"沉下去", r"没(?:有)?(?:浮|冒)上来", r"被水(?:冲走|卷走|围住|困住|围)", r"水还在涨",
        r"(?:淹|漫)(?:进|到)(?:屋|家|房|腰|胸|脖)", rf"水{_C}{{0,3}}涨得(?:好|很|太|特别)?快",
        r"(?:水|淹)(?:已经)?到(?:腰|胸|脖子)",
        r"昏迷", r"(?:晕|昏)(?:倒)?在", r"晕倒", r"晕过去", r"昏过去", r"倒地不起",
        r"倒(?:在)?地上", r"躺(?:在)?地上",
        r"倒在地", r"一动不动", r"不省人事", r"叫不醒", r"喊不醒", r"(?:喊|叫)(?:也|都)?不应",
        r"没有?呼吸", r"没气了", r"没了?心跳", r"抽搐", r"抽抽", r"抽过去", r"口吐白沫",
        r"大出血", r"窒息", rf"(?:压|埋)(?:在|住|着|了){_C}{{0,6}}(?:人|娃|孩|底下|下面)",
        r"(?:下面|底下|里面)有人(?!住|管|说|讲)",
        r"(?:人|孩子|小孩|老人|学生|行人|大爷|大妈|我)被(?:车|汽车|货车|车子|摩托车)撞",
        r"撞倒了?人",
        r"把人撞", r"车祸", r"(?:流了?|出了?)(?:好多|很多|一地|不少|一身|大量)(?:的)?血",
        r"满(?:脸|头|身)(?:都是)?血", r"浑身(?:是)?血", r"血流不止", r"有人受伤", r"人受伤了",
        r"受了重伤", r"(?:心脏病|心梗|脑梗|中风|哮喘)(?:犯了|发作)", r"人(?:已经)?倒了",
    ),
}  # fmt: skip

# Safety risks: the duty leader deals with them today.
URGENT_TERMS: tuple[str, ...] = (
    r"塌方", r"坍塌", r"塌陷", r"倒塌", r"垮塌", r"塌了", r"漏电", r"火灾",
    r"电线(?:裸露|掉落|断了|垂落|老化|外露|露在)", r"裸露(?:的)?电线", r"压到电线", r"碰到电线",
    r"井盖(?:缺失|丢失|被偷|没了|不见|破损|松动|坏)", r"没有井盖", r"危房", r"危楼",
    r"墙[体屋]?(?:开裂|倾斜)", r"楼[体屋]?(?:开裂|倾斜)", r"房[体屋]?(?:开裂|倾斜)",
    r"裂缝", r"裂了", r"滑坡", r"泥石流", r"高空坠物", r"高空抛物", r"往下扔", r"管涌", r"决堤",
    r"消防通道", r"飞线充电", r"楼道(?:里)?充电", r"私拉电线", r"安全隐患", r"隐患",
    r"随时(?:可能)?(?:倒|塌|掉)", r"(?:要|快)(?:倒|塌)了?", r"歪了", r"差点", r"差一点", r"险些",
    r"危险", r"夹人", r"夹到", r"红绿灯坏", r"信号灯坏", r"(?:护栏|栏杆)(?:断|坏|倒)",
    r"没有护栏", r"摔(?:了|伤|倒)", r"走失", r"没回来",
    rf"(?:老人|孩子|小孩|儿子|女儿|母亲|父亲|爸|妈|奶奶|爷爷|姥姥|外婆){_C}{{0,10}}(?:失联|联系不上|找不到)",
    r"老年痴呆", r"好几天没见", r"没人应", r"独居", r"流浪", r"冻(?:坏|死|伤|着)", r"这么冷",
    r"打(?:老人|小孩|孩子|我|老婆|妻子|学生)", r"家暴", r"虐待", r"放话", r"扬言", r"要弄死",
    r"烟花爆竹", r"鞭炮", r"炸药", r"雷管", r"易燃易爆", r"电炉", r"煤气罐", r"液化气罐",
    r"一旦出事", r"万一",
)  # fmt: skip

# Figures of speech with danger words in them: blanked before any danger term is looked for.
IDIOMS = compile_terms(
    r"杀人不见血|火爆|热火朝天|火热|火车|(?<!炭)火锅|火速|火箭|火候|发火|上火|火气|恼火|火大|冒火(?![花星苗光])|"
    r"怒火|心急如焚|(?<![煤燃])气死|急死|烦死|笑死|累死|热死|吵死|臭死|饿死|困死|想死你|烧钱|跳楼价|"
    r"跳楼甩卖|打死也不|吓死|要死不活|死活|一氧化碳报警器|消防演练|安全教育|防火知识|"
    r"油烟|炊烟|烟头|抽烟|吸烟|香烟|烟囱|烟雾报警|急得想死|想死的心|被困扰|困扰|中毒太深|"
    r"炸了锅|炸锅|(?<![煤燃])气炸|炸毛|炸鸡|炸串|油炸|大火收汁|头都?要?炸了?|脑袋都?要?炸了?|"
    r"火化|电鱼|(?:急|气|愁|烦|逼)得[^,.!?;]{0,4}(?:想|要)(?:跳楼|死|撞墙)"
)
# A negation right before a term ("不是着火", "没有煤气味", "并未起火") cancels it.
NEGATION = re.compile(
    r"(?:不是|没有|没|并未|并没有|未|未曾|从未|无|并非|不存在|不会|别|不|防止|严禁|禁止)[^\s]{0,3}$"
)
# Before a term in its clause: the danger is possible, feared, or second-hand, not happening.
HYPOTHETICAL = compile_terms(
    r"一旦|万一|如果|假如|要是|若是|倘若|如若|可能|容易|存在|担心|害怕|怕|以免|防止|预防|避免|"
    r"迟早|随时|隐患|风险|会不会|防范|听说|据说|网传|网上|抖音|快手|视频里|群里|新闻|报道|演练|宣传|"
    r"培训|怎么预防|如何预防|"
    r"差点|差一点|险些|肯定会|会有|会被|会造成|导致|引起|引发|造成|真要|真的?$|谣言|"
    r"真的假的|有没有|是不是|应该|该怎么|咋预防|遇到|碰到|发生了?$|出现了?$|不怕一万"
)
# After a term in its clause: the term was hypothetical all along ("着火了怎么办", "起火就麻烦了").
HYPOTHETICAL_AFTER = re.compile(
    r"^[^,.!?;]{0,8}(?:后果不堪设想|不堪设想|隐患|风险|就麻烦|谁负责|拿啥|拿什么|来得及|概率|的话|"
    r"事故|应该|真的假的|吗|一样|似的)"
)
# A clause about the past ("以前着过火", "2018年起火") does not count, unless the text says it
# is back; nor does one about something that keeps happening ("天天冒烟", "多次起火"), unless
# a word of now follows the marker ("天天吵 今天拿刀了"). "8号楼" is an address, not a date.
PAST_MARKER = compile_terms(
    r"以前|之前|曾经|上次|去年|前年|上个月|上周|前几年|前几天|几年前|多年前|过去|早年|那年|小时候|"
    r"昨天|昨晚|前天|当时|那次|那天|那时|\d+年(?![前了多])|\d+月(?:份|\d)|"
    r"\d+[日号](?![楼院栋门房室铺线路街巷口库])|年初|年底|月初|"
    r"去世|死亡|遇难|身亡"
)
HABITUAL = compile_terms(
    r"天天|每天|经常|常常|老是|总是|时常|频繁|频发|\d+次|多次|几次|屡次|每次|一到"
)
# A dated account ("2019年8月2日晚…") tells of events that are over, unless "现在/正在" is said.
NARRATIVE = re.compile(r"\d{4}年|\d+月\d+[日号]|事发|事后|当晚|当天|当时")
# Said after a past marker, these bring the account back to now ("昨晚烧炭 早上都喊不醒").
RECENT = re.compile(r"现在|刚才|刚刚|早上|今早|今天|此刻|正在|这会儿")
NOW = re.compile(r"(?<![到至])现在|正在|此刻|(?<![到至])目前|马上|快来|救命")
PRESENT_MARKER = re.compile(r"现在又|又(?:着|起|漏|冒|闻到)|再次|今天又|刚刚又")
RESOLVED = compile_terms(
    r"没事|已经?(?:扑灭|灭了|处理好|修好|解决|排除|救出|送医)|恢复正常|不要紧|扑灭|灭了|救出来了|"
    r"获救|脱险|不敢(?:再)?用|(?:总算|终于|已经)(?:出来|逃出|救出)|(?:就|已经)好了"
)
# A hazard counts when it is what the message is about: in its title or opening lines, not in
# passing deep in a long letter.
HAZARD_SPAN = 200
CLAUSE_SPLIT = re.compile(r"[,.!?;:\n\r、，。！？；：]|但是|但|不过|可是")

_LIFE = {hazard: compile_terms("|".join(terms)) for hazard, terms in LIFE_TERMS.items()}
_LIFE_ALTERNATION = "|".join(term for terms in LIFE_TERMS.values() for term in terms)
_ANY_LIFE = compile_terms(_LIFE_ALTERNATION)
_URGENT = compile_terms("|".join(URGENT_TERMS))


@dataclass(frozen=True)
class Danger:
    urgency: Urgency
    hazard: Hazard | None = None


NO_DANGER = Danger(Urgency.NORMAL)


def _last_end(pattern: re.Pattern[str], text: str) -> int:
    """Where the last match of `pattern` in `text` ends; 0 without one."""
    ends = [match.end() for match in pattern.finditer(text)]
    return ends[-1] if ends else 0


def _blank_idioms(text: str) -> str:
    return IDIOMS.sub(lambda match: " " * len(match[0]), text)


def _assertion(
    pattern: re.Pattern[str], clauses: Sequence[str], text: str, *, life: bool = True
) -> Urgency:
    """LIFE for an asserted term, URGENT for a hypothetical one, NORMAL for none.

    For hazards (`life=False`) a past or recurring mention still counts: the hazard remains.
    """
    found = Urgency.NORMAL
    recurring = PRESENT_MARKER.search(text) is not None
    narrative = life and NARRATIVE.search(text) is not None
    for position, clause in enumerate(clauses):
        for match in pattern.finditer(clause):
            before = clause[: match.start()]
            if NEGATION.search(before):
                continue
            since = before[_last_end(RECENT, before) :]  # "天天…今天…": now, not habit
            past = PAST_MARKER.search(since)
            habitual = HABITUAL.search(since) or HABITUAL.search(clause, match.end())
            if life and not recurring and (past or habitual):
                continue
            if narrative and not NOW.search(clause):
                continue
            if life and any(RESOLVED.search(later) for later in clauses[position:]):
                continue
            if HYPOTHETICAL.search(before) or HYPOTHETICAL_AFTER.search(clause[match.end() :]):
                found = Urgency.URGENT
                continue
            return Urgency.LIFE
    return found


def detect_danger(text: str) -> Danger:
    """The urgency the text's danger terms call for, and the hazard of an ongoing emergency."""
    if not _ANY_LIFE.search(text) and not _URGENT.search(text):
        return NO_DANGER
    text = _blank_idioms(text)
    clauses = CLAUSE_SPLIT.split(text)
    feared = False
    for hazard, pattern in _LIFE.items():
        urgency = _assertion(pattern, clauses, text)
        if urgency is Urgency.LIFE:
            return Danger(Urgency.LIFE, hazard)
        feared = feared or urgency is Urgency.URGENT
    opening = CLAUSE_SPLIT.split(text[:HAZARD_SPAN])
    if feared or _assertion(_URGENT, opening, text, life=False) is not Urgency.NORMAL:
        return Danger(Urgency.URGENT)
    return NO_DANGER


# -- intent -----------------------------------------------------------------------------

# Asking for information (any question form).
QUESTION_CUES: tuple[str, ...] = (
    r"怎么", r"如何", r"怎样", r"咋", r"请问", r"在哪", r"去哪", r"哪里", r"哪儿", r"哪个",
    r"哪些", r"哪类", r"哪种", r"能否", r"能不能", r"可不可以", r"是否", r"是不是", r"可以吗",
    r"行吗", r"吗", r"呢", r"多久", r"多长时间", r"多少", r"几号", r"什么时候",
    r"(?<![好十这那])几[点路时天个岁趟楼月]", r"多[大远高长重]", r"哪天", r"哪[家所座条]",
    r"归谁", r"谁(?:出|负责|承担|给|能|家)", r"在那(?:里|儿)?(?:办|补|换|交|领|申请|查|报)",
    r"找那个", r"[不没](?=\s|$)",
    r"(?:条件|查询|报名|补办|补缴|流程|标准|手续|材料)$",
    r"啥", r"什么", r"咨询", r"想问", r"问一下", r"问下", r"想了解", r"了解一下", r"有没有",
    r"还能", r"符合", r"资格", r"标准", r"收费吗", r"\?", r"不$", r"真的假的", r"敢不敢",
    r"需不需要", r"要不要", r"由谁", r"找谁", r"是[^,.!?;]{0,10}还是",
)  # fmt: skip

# A question that only asks where, how, when, what is needed: information is all that is wanted.
INFO_CUES: tuple[str, ...] = (
    r"想问", r"问一下", r"咨询一下", r"想咨询", r"想了解", r"了解一下", r"找谁",
    r"哪个部门", r"哪个电话", r"什么电话", r"电话是多少", r"电话多少", r"打哪",
    r"去哪(?:里|儿)?(?:办|投诉|申请|报|交|查|领|反映|买|看|问)", r"交到哪", r"交哪",
    r"在哪(?:里|儿)?(?:办|申请|交|查|领|预约|报名|登记)", r"链接在哪",
    r"(?:怎么|如何|咋|怎样)(?:办理|申请|认定|维权|报名|预约|登记|查询|开通|缴|交|分|整|弄)(?![都也])",
    r"(?:能不能|可不可以|能否|可以|能)(?:再)?申请",
    r"请问[^,.!?;]{0,12}(?:怎么办|如何|怎么|哪|找谁|是否|能否|可以|由谁)",
    r"要带", r"带什么", r"带啥",
    r"(?:什么|啥|哪些)(?:材料|手续|证|条件|流程|证据|资料)", r"流程是", r"需要什么", r"需要哪些",
    r"几号", r"多少天", r"有没有[^,.!?;]{0,8}"
    r"(?:政策|补贴|救助|培训|招聘|优惠|补助|规定)", r"什么政策", r"是[^,.!?;]{0,10}还是",
    r"还能[^,.!?;]{0,10}(?:吗|不|么)", r"算哪", r"由谁", r"是否可以", r"真的假的",
    r"归谁", r"谁出", r"在那(?:里|儿)?(?:办|补|换|交|领|申请|查|报)", r"找那个部门",
)  # fmt: skip

# Complaining, demanding or suggesting: never a mere consultation, even as a question.
ACTION_CUES: tuple[str, ...] = (
    r"(?<![哪么何谁向到])(?:投诉|举报|反映)", r"为什么", r"为何", r"凭什么",
    r"怎么(?:还|又|没|不|停|这么|半年|回事)",
    r"到底(?:有没有人|管不管|什么时候|啥时候)", r"有没有人管", r"没人管", r"无人管",
    r"管管", r"管一管",
    r"不作为", r"推诿", r"推来推去", r"踢皮球", r"刁难", r"建议", r"希望", r"期望", r"期待",
    r"期盼", r"盼望", r"恳请", r"呼吁", r"强烈", r"尽快", r"赶紧", r"马上", r"速来",
    r"(?:能不能|能否|可否|可不可以)(?:在|给|帮|把|派|安排|来|管|多|增|加|装|建|修|开|办|改|设|换|移|拆|搬|延长|提高|调)",
    r"增设", r"违法", r"违规", r"乱收费", r"钱去哪", r"曝光", r"查处",
    r"整治", r"取缔", r"处理一下", r"解决一下", r"来看看", r"帮帮", r"救救", r"没有?按", r"不按",
    r"没动静", r"没有动静", r"不处理", r"没人处理", r"还没处理", r"还不处理", r"欺诈", r"霸占",
    r"扰民", r"受不了", r"太吵", r"速度", r"请(?:有关|相关)?(?:部门|领导)", r"严查", r"督促",
    r"望(?:有关|相关|上级|领导|政府|尽快|早日)", r"盼有人", r"盼(?:早日|尽快)",
)  # fmt: skip

# Grievances: they make a plain question a complaint, not one that asks where or how to act.
GRIEVANCE_CUES: tuple[str, ...] = (
    r"不管", r"不给", r"不发", r"拖欠", r"欠薪", r"拖了", r"至今", r"迟迟", r"还没", r"一直",
    r"要求", r"严重", r"坏了", r"损坏", r"漏水", r"污染", r"被骗", r"骗", r"偷", r"几天了",
    r"好几天", r"没人(?!住)", r"堵", r"臭", r"吵", r"乱", r"脏", r"拒绝", r"不让", r"不予",
    r"维修",
    r"修一下", r"清理", r"难", r"太", r"差", r"不说", r"不告诉", r"不回复", r"不见回复",
    r"没回复", r"什么意思", r"联系不上", r"不对劲",
)  # fmt: skip

# A request to build, add or change something: a referral even for types handled at once.
PLANNING_CUES: tuple[str, ...] = (
    "建议", "增设", "新建", "新增", "加装", "安装", "增加", "修建", "规划", "改造", "扩建",
    "拓宽", "能否", "能不能", "希望", "设置", "配置", "添置",
)  # fmt: skip

_QUESTION = compile_terms("|".join(QUESTION_CUES))
_INFO = compile_terms("|".join(INFO_CUES))
_ACTION = compile_terms("|".join(ACTION_CUES))
_GRIEVANCE = compile_terms("|".join(GRIEVANCE_CUES))
_PLANNING = compile_terms("|".join(map(re.escape, PLANNING_CUES)))


def _a_not_a(text: str) -> bool:
    """ "A不A" asks too (休不休息, 上不上班, 大不大); 时不时 and 动不动 say "often". (A scan
    for 不: a pattern that starts with a class is tried at every position of a long text.)"""
    at = text.find("不", 1)
    while 0 < at < len(text) - 1:
        before = text[at - 1]
        if before == text[at + 1] and before.isalpha() and before not in "时动":
            return True
        at = text.find("不", at + 1)
    return False


def is_question(text: str) -> bool:
    return _QUESTION.search(text) is not None or _a_not_a(text)


def asks_for_action(text: str) -> bool:
    return _ACTION.search(text) is not None


def is_consultation(text: str) -> bool:
    """The resident asks for information and asks nobody to act.

    A complaint, demand or suggestion rules it out. A grievance (不管, 拖欠, 坏了) does too,
    unless the question plainly asks where, how or whom to turn to (找谁, 去哪投诉, 咋申请).
    """
    if not is_question(text) or asks_for_action(text):
        return False
    return _INFO.search(text) is not None or _GRIEVANCE.search(text) is None


def asks_for_planning(text: str) -> bool:
    """Something new is asked for (a light added, a road widened), not a fault fixed."""
    return _PLANNING.search(text) is not None


def _pattern_matches(pattern: str, text: str) -> bool:
    return all(term in text for term in pattern.split())


def match_faq(text: str, faq: Sequence[FaqEntry]) -> FaqEntry | None:
    """The entry with the longest matching pattern (its terms all occur in the text).

    Ties go to the entry listed first. Patterns must be normalised like the text.
    """
    best: FaqEntry | None = None
    best_length = 0
    for entry in faq:
        for pattern in entry.patterns:
            length = len(pattern.replace(" ", ""))
            if length > best_length and _pattern_matches(pattern, text):
                best, best_length = entry, length
    return best


# A danger term right after a negation ("不是煤气味", "没有冒烟").
_DENIED = re.compile(
    r"(?:不是|没有|没|并未|并非|不像|无)[^,.!?;]{0,3}(?:" + _LIFE_ALTERNATION + ")"
)


def unreal(text: str) -> bool:
    """The text says its danger is feared, denied, habitual, in the past or over: not
    happening now."""
    text = _blank_idioms(text)
    past = PAST_MARKER.search(text) or NARRATIVE.search(text) or HABITUAL.search(text)
    return bool(
        HYPOTHETICAL.search(text)
        or RESOLVED.search(text)
        or _DENIED.search(text)
        or (past and not NOW.search(text))
    )


# A report of wrongdoing (举报, 检举, 揭发; spaced out or in traditional characters) or a wish to
# stay unknown: the resident's identity is then never shown to the department.
_SPACER = r"[\s·.*_\-、,，]{0,2}"
CONFIDENTIAL = re.compile(
    rf"[举舉]{_SPACER}[报報]|[检檢]{_SPACER}[举舉]|揭{_SPACER}[发發]|告{_SPACER}[发發]|实名反映|"
    r"匿名|保密|打击报复|怕(?:被|遭)?报复|"
    r"(?:不要|别|勿|不能|不想)[^,.!?;，。！？]{0,4}(?:透露|泄露|公开|暴露|告诉|说出|让)"
    r"[^,.!?;，。！？]{0,10}(?:我|身份|信息|姓名|名字|电话|号码|是谁)"
)


CONTENT_MIN_DISTINCT = 3


def has_content(text: str) -> bool:
    """Words, not noise: at least three different letters or Chinese characters (so only
    emoji, punctuation, digits or one key held down, "aaaaa", say nothing)."""
    return len({char for char in text if char.isalpha()}) >= CONTENT_MIN_DISTINCT


def is_confidential(text: str) -> bool:
    """The resident reports wrongdoing or asks not to be named (see CONFIDENTIAL)."""
    return CONFIDENTIAL.search(text) is not None


def named_hazard(text: str) -> Hazard | None:
    """The hazard of the first danger term the text names, asserted or not; None without one."""
    first = _ANY_LIFE.search(text)
    if first is None:
        return None
    return next(
        (hazard for hazard, pattern in _LIFE.items() if pattern.match(text, first.start())), None
    )
