"""Classifier behaviour on invented messages (never dataset rows): the shipped config and
small hand-made taxonomies."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from nlp import rules
from nlp.classifier import Classifier
from nlp.keywords import write_table
from nlp.scoring import TableStack
from nlp.tokenizer import char_bigrams
from nlp.types import Calibration, Disposition, Hazard, Urgency
from tests.conftest_nlp import FAQ_ANSWER, shared_classifier, small_classifier


@pytest.fixture(scope="session")
def classifier() -> Classifier:
    return shared_classifier()


# What a center expects of plain messages, as residents type them (the sorting issue's table).
@pytest.mark.parametrize(
    ("text", "department", "disposition"),
    [
        ("小区门口有人占道经营摆摊卖菜，堵得车都过不去", "城管局", Disposition.IMMEDIATE),
        ("我家电动车昨晚在楼下被偷了", "派出所", Disposition.REFERRAL),
        ("我妈妈残疾人证到期了怎么换", "民政局", Disposition.CONSULTATION),
        ("我们小区路灯坏了好几天了晚上很黑", "城管局", Disposition.IMMEDIATE),
        ("垃圾好几天没人清运了，臭死了", "城管局", Disposition.IMMEDIATE),
        ("为什么我反映的问题到现在还没人处理？", "综治中心", Disposition.IMMEDIATE),
        ("工地老板拖欠我们农民工三个月工资", "人社局", Disposition.REFERRAL),
        ("邻居天天和我吵架，想请人调解", "司法所", Disposition.REFERRAL),
        ("有人在小区里聚众赌博", "派出所", Disposition.REFERRAL),
        ("楼上燥音太大，晚上睡不着", "生态环境局", Disposition.REFERRAL),
    ],
)
def test_routes_what_residents_type(
    classifier: Classifier, text: str, department: str, disposition: Disposition
) -> None:
    result = classifier.classify(text)
    assert (result.department, result.disposition) == (department, disposition)
    assert not result.needs_triage
    assert result.keywords


@pytest.mark.parametrize(
    ("text", "hazard"),
    [
        ("楼道里有很浓的煤气味，好像漏气了", Hazard.GAS),
        ("家里着火了", Hazard.FIRE),
        ("路边电线掉在地上了，有人被电到了", Hazard.ELECTRIC),
        ("有个人拿着刀在街上追着砍人", Hazard.VIOLENCE),
        ("小孩掉到河里了", Hazard.MEDICAL),
    ],
)
def test_emergency_is_life_and_handled_at_once(
    classifier: Classifier, text: str, hazard: Hazard
) -> None:
    result = classifier.classify(text)
    assert result.urgency is Urgency.LIFE
    assert result.hazard is hazard
    assert result.disposition is Disposition.IMMEDIATE
    assert not result.needs_triage


@pytest.mark.parametrize(
    "text",
    [
        "一旦发生火灾后果不堪设想，消防通道被堵",
        "万一燃气泄漏怎么办，管道太旧了",
        "去年这里着过火，现在已经没事了",
        "这家物业费真是杀人不见血",
        "他家生意火爆，门口天天排长队",
        "不是煤气味，是下水道的臭味",
    ],
)
def test_hypotheticals_idioms_past_and_negation_are_not_life(
    classifier: Classifier, text: str
) -> None:
    assert classifier.classify(text).urgency is not Urgency.LIFE


def test_hazard_is_urgent(classifier: Classifier) -> None:
    result = classifier.classify("一旦发生火灾后果不堪设想，消防通道被堵")
    assert result.urgency is Urgency.URGENT


def test_complaint_about_procedure_is_not_consultation(classifier: Classifier) -> None:
    result = classifier.classify("我要办营业执照，窗口一直推来推去")
    assert result.disposition is not Disposition.CONSULTATION
    assert result.faq_answer is None


def test_suggestion_is_referral_even_for_immediate_types(classifier: Classifier) -> None:
    result = classifier.classify("建议在我们村口增设几盏路灯")
    assert result.type == "路灯故障"
    assert result.disposition is Disposition.REFERRAL


def test_keyword_inside_a_longer_word(classifier: Classifier) -> None:
    # 盗窃 inside 盗窃案, 残疾 inside 残疾人证: matched as phrases, not as whole tokens.
    assert classifier.classify("小区发生了盗窃案").type == "盗窃"


def test_explanations_are_words_a_dispatcher_recognises(classifier: Classifier) -> None:
    for text in ("小区门口有人占道经营摆摊卖菜", "我们小区路灯坏了好几天了", "好"):
        keywords = classifier.classify(text).keywords
        assert all(len(word) > 1 and word not in classifier.generic for word in keywords)


def test_nothing_to_go_on_needs_triage(classifier: Classifier) -> None:
    for text in ("", "好", "嗯嗯嗯"):
        result = classifier.classify(text)
        assert result.needs_triage
        assert len(result.candidates) == 3


def test_faq_only_for_consultations() -> None:
    classifier = small_classifier()
    asked = classifier.classify("请问社保卡补办要带什么")
    assert asked.disposition is Disposition.CONSULTATION
    assert asked.faq_answer == FAQ_ANSWER
    complained = classifier.classify("社保卡补办了一个月还没拿到，窗口推来推去")
    assert complained.faq_answer is None
    assert complained.disposition is Disposition.REFERRAL


def test_strong_keyword_beats_diffuse_context() -> None:
    # Many words of housing and construction, one strong keyword of theft.
    text = "小区物业管理混乱，开发商交房延期，房产证办不下来，楼下电动车昨晚被偷了"
    assert small_classifier().classify(text, types=["盗窃", "城乡建设其他"]).type == "盗窃"


def test_township_of_grid_or_text() -> None:
    classifier = small_classifier()
    text = "村委会把我家宅基地划给了别人"
    assert classifier.classify(text, grid="东湖3网格").department == "东湖街道"
    assert classifier.classify("青山镇" + text).department == "青山镇"
    unplaced = classifier.classify(text)
    assert unplaced.department == "属地乡镇（街道）"
    assert unplaced.needs_triage


def test_types_restriction() -> None:
    classifier = small_classifier()
    assert classifier.classify("路灯不亮", types=["盗窃"]).type == "盗窃"
    with pytest.raises(ValueError, match="none of the types"):
        classifier.classify("路灯不亮", types=["无此类型"])


def test_traditional_and_full_width(classifier: Classifier) -> None:
    assert classifier.classify("我家電動車昨晚被偷了！").department == "派出所"


def test_huge_input_and_determinism(classifier: Classifier) -> None:
    text = "路灯坏了" * 5000
    assert classifier.classify(text) == classifier.classify(text)


def _urgency_table(tmp_path: Path, life: dict[str, float], normal: dict[str, float]) -> Path:
    path = tmp_path / "urgency.tsv"
    write_table(path, {"life": life, "normal": normal, "urgent": {}}, "a hand-made table")
    return path


def test_learned_urgency_finds_emergencies_the_rules_do_not_know(tmp_path: Path) -> None:
    table = _urgency_table(tmp_path, {"·红彤": 3.0, "·彤彤": 3.0}, {"·仓库": 0.5})
    classifier = small_classifier().variant(
        urgency_table=table, calibration=Calibration(life_alone=0.6, life_sure=1.0)
    )
    assert rules.detect_danger("仓库顶上红彤彤一片").urgency is Urgency.NORMAL
    result = classifier.classify("仓库顶上红彤彤一片")
    assert (result.urgency, result.disposition) == (Urgency.LIFE, Disposition.IMMEDIATE)
    # Said to be over, or asked about: not an ongoing emergency.
    assert classifier.classify("昨天仓库顶上红彤彤一片").urgency is Urgency.URGENT
    assert classifier.classify("仓库顶上红彤彤一片该找哪个部门？").urgency is Urgency.NORMAL
    # Below life_alone nothing changes.
    stricter = classifier.variant(calibration=Calibration(life_alone=1.0, life_sure=1.0))
    assert stricter.classify("仓库顶上红彤彤一片").urgency is Urgency.NORMAL
    # From life_sure the table overrules the rules' doubts (a panicked question, a hedge).
    sure = classifier.variant(calibration=Calibration(life_alone=0.6, life_sure=0.9))
    assert sure.classify("仓库顶上红彤彤一片该找哪个部门？").urgency is Urgency.LIFE


def test_learned_urgency_vetoes_a_danger_term_it_finds_unlikely(tmp_path: Path) -> None:
    table = _urgency_table(tmp_path, {"·着火": 0.5}, {"·演习": 4.0, "·消防": 4.0})
    classifier = small_classifier().variant(urgency_table=table)
    text = "消防演习 着火了"
    assert rules.detect_danger(text).urgency is Urgency.LIFE
    assert classifier.urgency is not None
    scores = dict(
        zip(
            classifier.urgency.labels,
            TableStack([classifier.urgency]).evidence(Counter(char_bigrams(text)))[0].scores,
            strict=True,
        )
    )
    assert scores["normal"] > scores["life"] + 5
    assert classifier.classify(text).urgency is Urgency.URGENT
    trusting = classifier.variant(calibration=Calibration(life_veto=0.0))
    assert trusting.classify(text).urgency is Urgency.LIFE
    # Without an urgency table the rules decide alone.
    assert small_classifier().classify(text).urgency is Urgency.LIFE


def test_learned_dispositions_refine_intent_and_handling_at_once(tmp_path: Path) -> None:
    path = tmp_path / "dispositions.tsv"
    write_table(
        path,
        {
            "consultation": {"·一直": 4.0, "·没到": 4.0},
            "immediate": {"·电动": 4.0, "·动车": 4.0},
            "referral": {"·怎么": 4.0, "·补办": 4.0, "·坏了": 4.0},
        },
        "a hand-made table",
    )
    classifier = small_classifier().variant(disposition_table=path)

    def disposition(text: str, **thresholds: float) -> Disposition:
        """The disposition with the table's thresholds off, but for those given."""
        off = {"consult_veto": 0.0, "consult_alone": 1.0, "immediate_veto": 0.0}
        calibration = Calibration(**(off | {"immediate_alone": 1.0} | thresholds))
        return classifier.variant(calibration=calibration).classify(text).disposition

    # A grievance asked as a question: the rules see no consultation, the table does.
    assert disposition("社保一直没到账吗") is Disposition.REFERRAL
    assert disposition("社保一直没到账吗", consult_alone=0.6) is Disposition.CONSULTATION
    # The rules' consultation stands unless the table finds it unlikely.
    assert disposition("社保卡怎么补办") is Disposition.CONSULTATION
    assert disposition("社保卡怎么补办", consult_veto=0.3) is Disposition.REFERRAL
    # A type handled at once is referred where the table doubts it; any type is handled at
    # once where the table is sure.
    assert disposition("路灯坏了") is Disposition.IMMEDIATE
    assert disposition("路灯坏了", immediate_veto=0.3) is Disposition.REFERRAL
    assert disposition("电动车被偷了") is Disposition.REFERRAL
    assert disposition("电动车被偷了", immediate_alone=0.6) is Disposition.IMMEDIATE
    # Without the table's words nothing changes.
    assert disposition("家里盗窃案", immediate_alone=0.0) is Disposition.REFERRAL
