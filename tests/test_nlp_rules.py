"""The hand-written rules of nlp/rules.py on invented sentences (not taken from the data)."""

from __future__ import annotations

import re

import pytest

from nlp import rules
from nlp.tokenizer import default_tokenizer
from nlp.types import Hazard, Urgency


def danger(text: str) -> rules.Danger:
    return rules.detect_danger(default_tokenizer().normalize(text))


def consultation(text: str) -> bool:
    return rules.is_consultation(default_tokenizer().normalize(text))


@pytest.mark.parametrize(
    ("text", "hazard"),
    [
        ("厨房里一股煤气味，越来越浓", Hazard.GAS),
        ("楼下那家的液化气罐在嘶嘶地响", Hazard.GAS),
        ("奶奶屋里烧着炭盆 现在头晕想吐", Hazard.GAS),
        ("对面楼三层着火了，窗户往外冒黑烟", Hazard.FIRE),
        ("后山的柴堆着了，风很大", Hazard.FIRE),
        ("工人被电击了，躺着不动", Hazard.ELECTRIC),
        ("刮断的电线落在路上，还有火花", Hazard.ELECTRIC),
        ("配电箱在冒电火花，地上都是水", Hazard.ELECTRIC),
        ("菜场门口有人拿着菜刀追人", Hazard.VIOLENCE),
        ("一个小伙子站在天台护栏外面，说要跳下去", Hazard.VIOLENCE),
        ("有人在打一个小孩，孩子一直在哭", Hazard.VIOLENCE),
        ("超市门口一位大爷晕倒了，叫不醒", Hazard.MEDICAL),
        ("有个孩子掉进池塘里了", Hazard.MEDICAL),
        ("我们几个被困在电梯里快半小时了", Hazard.MEDICAL),
        ("路边有人被车撞了，流了很多血", Hazard.MEDICAL),
        # a number before 号楼/号院 is an address, not a date of the past
        ("东湖小区8号楼电梯困人了 里面有个孕妇", Hazard.MEDICAL),
        # 冒火 is anger, 冒火花 is sparks
        ("路口那个电箱在冒火花 旁边全是水", Hazard.ELECTRIC),
        # a habit, then what is different now
        ("隔壁天天吵架 今天那男的拿着菜刀出来了", Hazard.VIOLENCE),
    ],
)
def test_ongoing_emergencies_are_life_with_their_hazard(text: str, hazard: Hazard) -> None:
    assert danger(text) == rules.Danger(Urgency.LIFE, hazard)


@pytest.mark.parametrize(
    "text",
    [
        # negation
        "不是煤气味，是下水道的臭味",
        "楼道里没有着火，只是有人在烧纸的味道散了",
        "电梯没困人，就是门关不严",
        # hypothetical
        "一旦起火，这栋楼的人都跑不出去",
        "万一燃气泄漏了怎么办",
        "如果有人触电谁负责",
        "孩子差点掉进河里，吓坏了",
        # risks
        "仓库堆满纸箱，存在火灾隐患",
        "这些电线老化严重，容易着火",
        # past and over
        "去年着过火，现在没事了",
        "上次漏气已经修好了",
        "2019年5月3日小区起火，后来物业一直不赔",
        # habitual, not an event
        "楼下饭店天天冒烟，窗户都不敢开",
        "今天去找了物业 楼下饭店天天冒烟也不管",
        "去年3号那天着过火",
        # idioms and figures of speech
        "这种收费简直杀人不见血",
        "新开的火锅店生意火爆",
        "商场跳楼价大甩卖",
        "被这破事气死了，心急如焚",
        "一听物业这么说我就冒火",
        # rumours
        "听说隔壁镇有人跳河了，是真的吗",
    ],
)
def test_no_ongoing_emergency_is_not_life(text: str) -> None:
    assert danger(text).urgency is not Urgency.LIFE


@pytest.mark.parametrize(
    "text",
    [
        "一旦起火，这栋楼的人都跑不出去",
        "仓库堆满纸箱，存在火灾隐患",
        "路口的井盖没了，晚上看不见",
        "楼道里停满电动车，还在楼道里充电",
        "老房子墙体开裂，随时可能塌",
        "马路边的护栏断了一大截，学生天天从那走",
        "我爸有老年痴呆，早上出门到现在没回来",
    ],
)
def test_hazards_and_fears_are_urgent(text: str) -> None:
    assert danger(text).urgency is Urgency.URGENT


@pytest.mark.parametrize(
    "text",
    [
        "小区绿化带的草太高了",
        "公交车晚点半小时",
        "这条街生意火爆，晚上人很多",
        "去年着过火，现在没事了",
    ],
)
def test_no_danger_is_normal(text: str) -> None:
    assert danger(text) == rules.NO_DANGER


def test_long_letter_mentioning_a_hazard_deep_inside_is_not_urgent() -> None:
    text = (
        "关于小区停车收费的意见\n" + "物业收费标准不透明，业主意见很大。" * 20 + "也存在安全隐患。"
    )
    assert danger(text).urgency is Urgency.NORMAL


@pytest.mark.parametrize(
    "text",
    [
        "办居住证要带哪些材料",
        "新生儿上户口去哪里办",
        "失业金怎么申请",
        "医保卡丢了找谁补办",
        "公积金每个月几号到账",
        "老人高龄补贴有没有新政策",
        "驾照换证是网上办还是去车管所",
        "工资被拖欠了去哪投诉，要带啥证据",
        "家里的燃气表坏了，请问怎么报修",
    ],
)
def test_asking_for_information_is_a_consultation(text: str) -> None:
    assert consultation(text)


@pytest.mark.parametrize(
    "text",
    [
        # complaints phrased as questions
        "垃圾堆了一个星期为什么还不处理？",
        "楼下烧烤店天天吵到半夜，到底有没有人管？",
        "路灯坏了半个月怎么还没修？",
        "物业乱收停车费，能不能管管？",
        # suggestions and requests
        "建议在学校门口增设红绿灯",
        "能不能在我们小区装几个路灯",
        "希望公交站能延长到我们村",
        # complaint about a procedure
        "去窗口办证推来推去，跑了五趟还没办成",
        # plain statements
        "小区门口的下水道堵了",
    ],
)
def test_complaints_and_suggestions_are_not_consultations(text: str) -> None:
    assert not consultation(text)


def test_planning_requests() -> None:
    assert rules.asks_for_planning("建议在路口增设路灯")
    assert not rules.asks_for_planning("路口的路灯坏了")


def test_terms_compile_with_a_first_character_lookahead_and_find_the_same() -> None:
    pattern = r"(?:煤气|燃气)(?:的)?味|着[了过]?火|(?<![鱼])电死|漏气"
    fast, plain = rules.compile_terms(pattern), re.compile(pattern)
    assert fast.pattern.startswith("(?=[")
    for text in (
        "楼道里煤气的味道",
        "家里着了火",
        "鱼电死了",
        "小狗电死了",
        "没有漏气",
        "正常",
        "",
    ):
        assert [m.span() for m in fast.finditer(text)] == [m.span() for m in plain.finditer(text)]
    # A leading class or an optional start: no lookahead, the pattern as it is.
    assert rules.compile_terms(r"\d+年|去年").pattern == r"\d+年|去年"
    assert rules.compile_terms(r"(?:大)?火|烟").pattern.startswith("(?=[大火烟])")


@pytest.mark.parametrize(
    "text",
    [
        "我要举报小区门口的黑诊所",
        "检举某单位违规发放补贴",
        "揭发村干部虚报冒领低保",
        "举 报：工地夜里偷排污水",
        "實名舉報某公司偷稅",
        "匿名反映一下，请不要透露我的信息，怕被报复",
        "这事别让他知道是我说的",
    ],
)
def test_confidential_reports_are_recognised(text: str) -> None:
    assert rules.is_confidential(text)


@pytest.mark.parametrize(
    "text", ["小区路灯坏了好几天", "报名入学需要什么材料", "发票开错了怎么办"]
)
def test_ordinary_messages_are_not_confidential(text: str) -> None:
    assert not rules.is_confidential(text)


@pytest.mark.parametrize(
    "text",
    [
        "政务中心中午休不休息",
        "宅基地申请条件",
        "村里的路灯电费是谁出的",
        "驾照到期了在那换",
        "几点开门",
    ],
)
def test_more_ways_of_asking_are_questions(text: str) -> None:
    assert rules.is_question(text)


@pytest.mark.parametrize("text", ["路灯坏了好几天了", "这几天一直停水", "时不时停电"])
def test_quantities_and_habits_are_not_questions(text: str) -> None:
    assert not rules.is_question(text)
