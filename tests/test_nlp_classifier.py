"""Classifier behaviour on invented messages (never dataset rows)."""

from __future__ import annotations

import math

import pytest

from nlp.classifier import Classifier
from nlp.types import Disposition, Urgency
from tests.conftest_nlp import FAQ_ANSWER, shared_classifier


@pytest.fixture(scope="session")
def classifier() -> Classifier:
    return shared_classifier()


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("我们小区楼下的烧烤店半夜噪音扰民，油烟呛人，河边还有工厂偷排污水", "环境保护"),
        ("工地老板拖欠我们农民工三个月工资，社保也没交", "劳动和社会保障"),
        ("学校让孩子周末去补课，还收补课费，老师这样做合理吗", "教育文体"),
        ("这条公路坑坑洼洼，货车一过尘土飞扬，路面早该修了", "交通运输"),
        ("医院医生开药太贵，卫生院看病还要排很久", "卫生计生"),
        ("小区路灯坏了，开发商交房后房产证一直办不下来", "城乡建设"),
        ("超市卖过期食品，商家价格欺诈，景区门票也乱涨价", "商贸旅游"),
        ("邻居天天和我吵架，借钱不还，这个纠纷想请人调解", "矛盾纠纷"),
        ("有人在小区里聚众赌博，还打架", "治安"),
        ("家里困难，想申请低保和残疾人救助", "民政救助"),
    ],
)
def test_categories(classifier: Classifier, text: str, category: str) -> None:
    result = classifier.classify(text)
    assert result.category == category
    assert result.keywords
    assert 0 < result.confidence <= 1


def test_department_and_township(classifier: Classifier) -> None:
    text = "邻居天天和我吵架，这个纠纷想请人调解"
    assert classifier.classify(text, township="城关镇").department == "城关镇司法所"
    assert classifier.classify(text).department == "属地乡镇（街道）司法所"
    assert classifier.classify("有人在小区里聚众赌博，还打架").department == "派出所"


@pytest.mark.parametrize(
    "text",
    ["请问办理居住证需要什么材料？", "在哪里可以开无犯罪记录证明", "营业执照多久能办下来?"],
)
def test_question_is_consultation(classifier: Classifier, text: str) -> None:
    assert classifier.classify(text).disposition is Disposition.CONSULTATION


def test_complaint_question_is_not_consultation(classifier: Classifier) -> None:
    result = classifier.classify("工厂半夜排放废气，污染严重，为什么没人管？")
    assert result.disposition is Disposition.REFERRAL


def test_faq_answer(classifier: Classifier) -> None:
    result = classifier.classify("社保卡补办怎么弄")
    assert result.disposition is Disposition.CONSULTATION
    assert result.faq_answer == FAQ_ANSWER


def test_complaint_keeps_category_disposition(classifier: Classifier) -> None:
    result = classifier.classify("工地老板拖欠我们农民工三个月工资，一直不给")
    assert result.disposition is Disposition.REFERRAL
    assert result.faq_answer is None


@pytest.mark.parametrize(
    ("text", "urgency"),
    [
        ("楼道里着火了，浓烟很大，快来人", Urgency.LIFE),
        ("厨房煤气泄漏，味道很重", Urgency.LIFE),
        ("有人要跳楼，就在三号楼顶", Urgency.LIFE),
        ("河边有小孩溺水了", Urgency.LIFE),
        ("路口的井盖缺失，晚上很危险", Urgency.URGENT),
        ("老房子成了危房，墙体开裂", Urgency.URGENT),
        ("配电箱漏电，小孩经常在旁边玩", Urgency.URGENT),
        ("商场跳楼价大甩卖，吵得很", Urgency.NORMAL),
        ("小区路灯坏了", Urgency.NORMAL),
    ],
)
def test_urgency(classifier: Classifier, text: str, urgency: Urgency) -> None:
    assert classifier.classify(text).urgency is urgency


@pytest.mark.parametrize(
    "text",
    [
        "不是着火，是邻居家在烧香，烟有点大",
        "昨天没有着火，只是报警器误报",
        "厨房并未起火，但是燃气灶坏了",
        "以前着过火但现在没事了，想问问物业费怎么交",
    ],
)
def test_negated_danger_is_normal(classifier: Classifier, text: str) -> None:
    assert classifier.classify(text).urgency is Urgency.NORMAL


def test_negation_only_in_its_clause(classifier: Classifier) -> None:
    assert classifier.classify("没有人管，楼下着火了").urgency is Urgency.LIFE


@pytest.mark.parametrize("text", ["", "   \n\t", "😀😀🎉", "？？？"])
def test_empty_input_needs_triage(classifier: Classifier, text: str) -> None:
    result = classifier.classify(text)
    assert result.needs_triage
    assert result.confidence == 0
    assert result.keywords == ()
    assert len(result.candidates) == 3


def test_huge_input(classifier: Classifier) -> None:
    text = "小区路灯坏了没人修。" * 110_000  # over 1 MB
    result = classifier.classify(text)
    assert result.category == "城乡建设"


def test_traditional_chinese(classifier: Classifier) -> None:
    assert classifier.classify("社區的路燈壞了很久，開發商不管，請儘快維修").category == "城乡建设"
    assert classifier.classify("我們公司拖欠工資半年了，老闆不給錢").category == "劳动和社会保障"
    assert classifier.classify("請問補辦社保卡").faq_answer == FAQ_ANSWER


def test_deterministic(classifier: Classifier) -> None:
    text = "邻居装修噪音大，还在楼道堆放建筑垃圾"
    assert len({classifier.classify(text) for _ in range(5)}) == 1


def test_categories_restriction(classifier: Classifier) -> None:
    text = "工地老板拖欠我们农民工三个月工资"
    result = classifier.classify(text, categories=["城乡建设", "交通运输"])
    assert result.category in {"城乡建设", "交通运输"}
    assert all(name in {"城乡建设", "交通运输"} for name, _ in result.candidates)
    with pytest.raises(ValueError, match="none of the categories"):
        classifier.classify(text, categories=["不存在的类别"])


def test_low_confidence_lists_candidates(classifier: Classifier) -> None:
    result = classifier.classify("我想反映一个情况")
    assert result.needs_triage
    assert [score for _, score in result.candidates] == sorted(
        (score for _, score in result.candidates), reverse=True
    )


def test_config_keywords_override_table(classifier: Classifier) -> None:
    # 养老 weighs 1.5 for 民政救助 from config only; the table row for 劳动和社会保障 remains.
    weights = dict(zip(classifier.names, classifier.weights, strict=True))
    assert weights["民政救助"]["养老"] == 1.5
    assert "养老" in weights["劳动和社会保障"]


def test_evidence_scores_are_weight_times_tf(classifier: Classifier) -> None:
    tokens = ["污水", "工资", "污水", "路灯", "的", "污水", "工资", "无此词"]
    evidence = classifier.evidence(tokens)
    tf = {"污水": 1 + math.log(3), "工资": 1 + math.log(2), "路灯": 1.0}
    assert sorted(evidence.tokens) == sorted(tf)
    for position, weights in enumerate(classifier.weights):
        expected = sum(weights.get(token, 0.0) * value for token, value in tf.items())
        assert evidence.scores[position] == pytest.approx(expected)
    assert evidence.norm == pytest.approx(math.sqrt(sum(value**2 for value in tf.values())))


def test_explanation_ties_go_by_token(classifier: Classifier) -> None:
    # 纠纷 and 离婚 both weigh 2 for 矛盾纠纷 (config), 吵架 too; 邻居 1.5.
    result = classifier.classify("邻居 离婚 纠纷 吵架", categories=["矛盾纠纷"])
    assert result.keywords[:3] == tuple(sorted(["纠纷", "离婚", "吵架"]))
