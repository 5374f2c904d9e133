"""Training, evaluation and the command functions on tiny hand-made files."""

from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path

import pytest
import wcwidth

from nlp.calibrate import calibrate_command
from nlp.classifier import Classifier, with_table
from nlp.columns import columns
from nlp.commands import (
    classify_stream,
    corrections_as_examples,
    eval_command,
    learning_curve_command,
    train_command,
    train_label_command,
    train_types_command,
)
from nlp.dataset import read_examples
from nlp.evaluate import evaluate_routing, score_predictions
from nlp.keywords import read_table, softmax
from nlp.labelled import Labelled, Split, read_labelled, split_of
from nlp.scoring import TableStack
from nlp.tokenizer import TextTokenizer, char_bigrams, default_tokenizer
from nlp.train import TrainParams, cross_validate, stratified_folds, train
from tests.conftest_nlp import make_types, shared_classifier, small_classifier

TINY_TRAIN = """label,tokens
环境,工厂 排放 污水 河水 发臭
环境,养殖场 污水 臭味 A3 2019
环境,工厂 废气 噪音 扰民 0000
交通,公交车 线路 绕路 站台
交通,道路 破损 公交车 晚点 K1
交通,出租车 拒载 道路 拥堵
"""


@pytest.fixture(scope="session")
def classifier() -> Classifier:
    return shared_classifier()


def test_train_writes_readable_table(tmp_path: Path) -> None:
    source = tmp_path / "tiny.csv"
    source.write_text(TINY_TRAIN, encoding="utf-8")
    out = tmp_path / "keywords.tsv"
    summary = train(source, out, params=TrainParams(epochs=5, min_df=2, min_weight=0.01))
    assert summary.examples == 6
    assert summary.label_counts == {"环境": 3, "交通": 3}
    text = out.read_text(encoding="utf-8")
    assert text.startswith("# ")
    assert "python -m nlp.train" in text
    table = read_table(out)
    assert set(table) == {"环境", "交通"}
    assert "污水" in table["环境"] and "公交车" in table["交通"]
    junk = {"A3", "a3", "2019", "0000", "K1", "k1"}
    assert not junk & {word for words in table.values() for word in words}
    rows = [line.split("\t") for line in text.splitlines() if not line.startswith("#")][1:]
    assert rows == sorted(rows, key=lambda row: (row[0], -float(row[2]), row[1]))


def test_train_command_prints_summary(tmp_path: Path) -> None:
    source = tmp_path / "tiny.csv"
    source.write_text(TINY_TRAIN, encoding="utf-8")
    out = io.StringIO()
    train_command(source, tmp_path / "k.tsv", out, TrainParams(epochs=2))
    assert "6 examples" in out.getvalue()


def test_classifier_with_tiny_table(tmp_path: Path) -> None:
    table = tmp_path / "k.tsv"
    table.write_text("# hand-made\ncategory\tkeyword\tweight\n环境保护\t污水\t2.0\n")
    types = [spec for spec in make_types() if spec.topic in (None, "环境保护")]
    tiny = Classifier(types, keywords_path=table, types_path=None)
    assert tiny.classify("河里有污水").type == "环境保护其他"
    assert tiny.classify("河里有污水").topic == "环境保护"


def _display_widths(lines: list[str]) -> set[int]:
    return {wcwidth.width(line) for line in lines}


def test_columns_line_up_chinese_text_by_its_width_on_a_terminal() -> None:
    lines = columns([["部门", "n"], ["人力资源和社会保障局", "12"], ["x", "3"]], "<>")
    assert _display_widths(lines) == {24}  # 20 + gap 2 + 2
    assert lines[1].startswith("人力资源和社会保障局  ") and lines[2].startswith("x" + " " * 21)


def test_eval_tables_with_chinese_labels_line_up() -> None:
    report = score_predictions(["环境保护", "交通", "环境保护"], ["环境保护", "交通", "交通"])
    lines = report.format().splitlines()
    # The per-class table (header and two rows) and the confusion matrix end in one column.
    assert len(_display_widths(lines[2:5])) == 1
    assert len(_display_widths(lines[-2:])) == 1
    examples = [
        Labelled("路灯不亮好几天了", "路灯故障", "immediate", "normal", "phone_t"),
        Labelled("电动车被偷了", "盗窃", "referral", "normal", "phone_t"),
    ]
    routing = evaluate_routing(small_classifier(), examples).format().split("\n\n")
    departments = routing[-1].splitlines()
    assert departments[0].startswith("department") and "城管局" in routing[-1]
    assert len(_display_widths(departments)) == 1
    assert len(_display_widths(routing[1].splitlines())) == 1  # the measures, 即办 among them


def test_score_predictions_math() -> None:
    report = score_predictions(["a", "a", "b", "b"], ["a", "b", "b", "b"])
    assert report.accuracy == 0.75
    assert report.per_class["a"].precision == 1.0
    assert report.per_class["a"].recall == 0.5
    assert report.per_class["b"].precision == pytest.approx(2 / 3)
    assert report.per_class["b"].recall == 1.0
    f1_a, f1_b = 2 / 3, 0.8
    assert report.macro_f1 == pytest.approx((f1_a + f1_b) / 2)
    assert report.confusion == {"a": {"a": 1, "b": 1}, "b": {"a": 0, "b": 2}}
    assert "macro-F1 0.7333" in report.format()


def test_eval_command_on_jsonl(classifier: Classifier, tmp_path: Path) -> None:
    path = tmp_path / "eval.jsonl"
    records = [
        {"label": "环境保护", "text": "化工厂往河里偷排污水，河水发黑发臭"},
        {"label": "交通运输", "text": "这条公路坑坑洼洼，货车经过很危险"},
    ]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n\n")
    out = io.StringIO()
    assert eval_command(classifier, path, out, topics=["环境保护", "交通运输"]) == 1.0
    assert "accuracy 1.0000" in out.getvalue()


def test_read_examples_rejects_unknown_columns(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("label,body\nx,y\n", encoding="utf-8")
    with pytest.raises(ValueError, match="label,tokens or label,text"):
        read_examples(path)


def test_classify_stream(classifier: Classifier) -> None:
    lines = [
        "小区路灯坏了，晚上很黑\n",
        "\n",
        json.dumps({"id": "a7", "text": "工地老板拖欠农民工工资"}, ensure_ascii=False) + "\n",
        "   \n",
    ]
    out = io.StringIO()
    assert classify_stream(classifier, lines, out, None) == 2
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(records) == 4  # one per input line, in order
    assert records[1] == records[3] == {"error": "empty"}
    assert set(records[0]) == {
        "type",
        "category",
        "disposition",
        "department",
        "urgency",
        "confidence",
        "needs_triage",
        "keywords",
    }
    assert records[2]["id"] == "a7" and records[2]["category"] == "劳动和社会保障"
    assert "工资" in out.getvalue()  # ensure_ascii=False


def test_classify_stream_restricted(classifier: Classifier) -> None:
    out = io.StringIO()
    classify_stream(classifier, ["工地老板拖欠农民工工资"], out, ["城乡建设其他"], explain=True)
    record = json.loads(out.getvalue())
    assert record["type"] == "城乡建设其他"
    assert {"candidates", "topic", "consultation", "hazard"} <= set(record)


def test_tokenizer_is_private_and_uses_userdict() -> None:
    import jieba

    tokenizer = default_tokenizer()
    assert tokenizer.jieba is not jieba.dt
    assert "噪音扰民" in tokenizer.lcut("楼下夜宵摊噪音扰民")
    assert "的" not in tokenizer.tokens("楼下的夜宵摊")


def test_tokenizer_segments_without_hmm() -> None:
    tokenizer = default_tokenizer()
    # jieba's HMM would join the out-of-vocabulary 杭研 into one word.
    assert tokenizer.lcut("来到网易杭研大厦") == ["来到", "网易", "杭", "研", "大厦"]


def test_normalize() -> None:
    tokenizer = default_tokenizer()
    assert tokenizer.normalize("社區路燈ＡＢＣ，　Hello！") == "社区路灯abc, hello!"
    assert tokenizer.normalize("") == ""


def test_tokenizer_cache_dir(tmp_path: Path) -> None:
    first = TextTokenizer(cache_dir=tmp_path)
    assert any(tmp_path.iterdir())
    second = TextTokenizer(cache_dir=tmp_path)
    assert first.lcut("网格员上门") == second.lcut("网格员上门")


def test_train_is_deterministic_and_non_negative(tmp_path: Path) -> None:
    source = tmp_path / "tiny.csv"
    source.write_text(TINY_TRAIN, encoding="utf-8")
    first, second = tmp_path / "a.tsv", tmp_path / "b.tsv"
    train(source, first, params=TrainParams(epochs=3))
    train(source, second, params=TrainParams(epochs=3))
    rows = [
        [line for line in path.read_text(encoding="utf-8").splitlines() if line[:1] != "#"]
        for path in (first, second)
    ]
    assert rows[0] == rows[1]
    table = read_table(first)
    assert all(weight >= 0 for words in table.values() for weight in words.values())
    assert table["环境"]["污水"] > table["交通"].get("污水", 0.0)


def test_cross_validate_on_tiny_file(tmp_path: Path) -> None:
    source = tmp_path / "tiny.csv"
    source.write_text(TINY_TRAIN, encoding="utf-8")
    scores = cross_validate(source, 3, params=TrainParams(epochs=3, min_df=1))
    assert len(scores) == 3
    assert all(0.0 <= score <= 1.0 for score in scores)


def test_stratified_folds_deal_every_class() -> None:
    folds = stratified_folds([0, 0, 0, 1, 1, 1], 3, seed=0)
    assert sorted(folds[:3]) == [0, 1, 2]
    assert sorted(folds[3:]) == [0, 1, 2]


def test_labelled_sets_join_board_ids_and_split_stably(tmp_path: Path) -> None:
    labels, data = tmp_path / "labels", tmp_path / "data"
    labels.mkdir()
    data.mkdir()
    (data / "teddy2020c_messages_unlabeled.csv").write_text(
        "id,title,detail\n7,路灯坏了,我们小区路灯坏了三天\n", encoding="utf-8"
    )
    (labels / "board_9.csv").write_text(
        "id,type,disposition,urgency\n7,路灯故障,immediate,normal\n", encoding="utf-8"
    )
    (labels / "phone_x.jsonl").write_text(
        json.dumps(
            {
                "text": "电动车被偷了",
                "type": "盗窃",
                "disposition": "referral",
                "urgency": "normal",
            },
            ensure_ascii=False,
        )
        + "\n",
        encoding="utf-8",
    )
    found = read_labelled(labels, data)
    assert [item.text for item in found] == ["路灯坏了\n我们小区路灯坏了三天", "电动车被偷了"]
    assert found[0].split is split_of("board:" + found[0].text)
    halves = {split_of(str(n)) for n in range(20)}
    assert halves == {Split.TRAIN, Split.TEST}
    with pytest.raises(FileNotFoundError, match="the data set"):
        read_labelled(labels, tmp_path / "nowhere")


def test_routing_report_counts_what_ships() -> None:
    examples = [
        Labelled("路灯不亮好几天了", "路灯故障", "immediate", "normal", "phone_t"),
        Labelled("电动车被偷了", "盗窃", "referral", "normal", "phone_t"),
        Labelled("家里着火了", "盗窃", "immediate", "life", "phone_t"),
    ]
    report = evaluate_routing(small_classifier(), examples)
    assert report.department_accuracy == pytest.approx(2 / 3)
    assert report.disposition_levels["immediate"].recall == 1.0
    assert report.urgency_levels["life"].recall == 1.0
    assert "即办 (immediate) recall" in report.format()
    with pytest.raises(ValueError, match="not in config"):
        evaluate_routing(
            small_classifier(), [Labelled("x", "无此类型", "referral", "normal", "p")]
        )


def test_corrections_become_typed_examples_and_train_the_type_table(tmp_path: Path) -> None:
    classifier = small_classifier()
    corrections = corrections_as_examples(
        classifier,
        [("楼下电动车丢了", "派出所"), ("村里的事", "东湖街道"), ("无主之地", "不存在的部门")],
    )
    assert [(e.label, e.text) for e in corrections] == [
        ("盗窃", "楼下电动车丢了"),
        ("村务", "村里的事"),
    ]
    labelled = [Labelled("楼下电动车丢了两次", "盗窃", "referral", "normal", "phone_t")]
    out = io.StringIO()
    table = tmp_path / "types.tsv"
    summary = train_types_command(table, out, corrections=corrections * 20, labelled=labelled * 2)
    assert summary.examples == 42
    assert "wrote" in out.getvalue()
    assert "40 routing corrections" in table.read_text(encoding="utf-8")
    assert "电动车" in read_table(table)["盗窃"]
    learned = classifier.variant(type_table=table).learned
    logits = TableStack([learned]).evidence(Counter(["电动车", "丢"]))[0].logits()
    assert max(range(len(logits)), key=logits.__getitem__) == classifier.names.index("盗窃")


def test_char_bigrams_mark_the_pairs_of_the_opening() -> None:
    assert char_bigrams("三楼有火!!a1好大") == ["·三楼", "·楼有", "·有火", "·好大"]
    assert char_bigrams("一二三四", span=3) == ["·一二", "·二三"]


def _tiny_labelled() -> list[Labelled]:
    rows = [
        ("路灯不亮了", "路灯故障", "immediate", "normal"),
        ("路灯坏了好几天", "路灯故障", "immediate", "normal"),
        ("晚上路灯一直不亮", "路灯故障", "immediate", "normal"),
        ("电动车被偷了", "盗窃", "referral", "normal"),
        ("家里被盗窃了", "盗窃", "referral", "normal"),
        ("车被偷了", "盗窃", "referral", "normal"),
        ("家里着火了快来", "盗窃", "immediate", "life"),
        ("楼里冒烟着火了", "盗窃", "immediate", "life"),
        ("仓库着火了", "盗窃", "immediate", "life"),
        ("社保卡怎么补办", "社保", "consultation", "normal"),
        ("社保断缴了怎么办", "社保", "consultation", "normal"),
        ("社保能转吗", "社保", "consultation", "normal"),
    ]
    return [Labelled(text, *labels, "phone_t") for text, *labels in rows]


def test_urgency_table_is_trained_on_the_labelled_urgencies(tmp_path: Path) -> None:
    table = tmp_path / "urgency.tsv"
    out = io.StringIO()
    summary = train_label_command("urgency", table, out, labelled=_tiny_labelled())
    assert summary.label_counts == {"normal": 9, "life": 3}
    assert "--labels urgency" in table.read_text(encoding="utf-8")
    classifier = small_classifier().variant(urgency_table=table)
    assert classifier.urgency is not None
    life = classifier.urgency.labels.index("life")

    def p_life(text: str) -> float:
        assert classifier.urgency is not None
        evidence = TableStack([classifier.urgency]).evidence(Counter(char_bigrams(text)))[0]
        return softmax(evidence.logits())[life]

    assert p_life("着火了") > 0.5 > p_life("路灯坏了")


def test_the_urgency_table_learns_single_characters_the_type_table_does_not(
    tmp_path: Path,
) -> None:
    fires = [
        Labelled(text, "盗窃", "immediate", "life", "phone_t") for text in ("火很大", "好大的火")
    ]
    labelled = _tiny_labelled() + fires
    urgency, types = tmp_path / "u.tsv", tmp_path / "t.tsv"
    train_label_command("urgency", urgency, io.StringIO(), labelled=labelled)
    train_types_command(types, io.StringIO(), labelled=labelled)
    assert "火" in read_table(urgency)["life"]
    assert not [word for words in read_table(types).values() for word in words if len(word) == 1]


def _tiny_params() -> dict[str, TrainParams]:
    """Every table trained as the type table, for the tiny labelled set."""
    return dict.fromkeys(
        ("type", "urgency", "disposition"), TrainParams(min_chars=2, bigrams=True)
    )


def test_calibrate_searches_on_cross_validated_folds_and_prints_the_setting() -> None:
    out = io.StringIO()
    best = calibrate_command(small_classifier(), out, _tiny_params(), training=_tiny_labelled())
    printed = out.getvalue()
    assert printed.startswith("start: objective")
    assert f"    learned_weight: {best.learned_weight:g}\n" in printed
    assert "cross-validated on the training part:\nlabelled messages 12" in printed


def test_learning_curve_learns_the_type_table_from_more_and_more_messages() -> None:
    labelled = _tiny_labelled() * 3
    # The split is by text: repeat the messages with a marker until both parts have some.
    labelled += [
        Labelled(f"{item.text}{n}", item.type, item.disposition, item.urgency, item.source)
        for n in range(4)
        for item in _tiny_labelled()
    ]
    out = io.StringIO()
    curve = learning_curve_command(small_classifier(), out, (0, 5), labelled=labelled)
    training = sum(item.split is Split.TRAIN for item in labelled)
    assert [step for step, _ in curve] == [0, 5, training]
    # Keywords alone miss the fire messages (typed 盗窃 here); the learned table routes all.
    assert curve[0][1] < 0.8
    assert curve[-1][1] == 1.0
    assert out.getvalue().startswith("corrections  department accuracy  type accuracy\n")
    assert len(out.getvalue().splitlines()) == 4


def test_calibrate_may_search_only_the_named_settings() -> None:
    start = small_classifier()
    out = io.StringIO()
    best = calibrate_command(
        start,
        out,
        _tiny_params(),
        training=_tiny_labelled(),
        only=["life_sure"],
    )
    changed = {
        name
        for name, value in best.model_dump().items()
        if value != getattr(start.calibration, name)
    }
    assert changed <= {"life_sure"}
    assert all(
        line.startswith(("start:", "life_sure ="))
        for line in out.getvalue().split("\n\n")[0].splitlines()
    )
    with pytest.raises(ValueError, match="not a calibration setting: nonsense"):
        calibrate_command(
            start, io.StringIO(), _tiny_params(), training=_tiny_labelled(), only=["nonsense"]
        )


def test_a_table_written_elsewhere_replaces_the_learned_table_of_its_kind(
    tmp_path: Path,
) -> None:
    classifier = small_classifier()
    types, urgency, topics = tmp_path / "t.tsv", tmp_path / "u.tsv", tmp_path / "k.tsv"
    train_types_command(types, io.StringIO(), labelled=_tiny_labelled())
    train_label_command("urgency", urgency, io.StringIO(), labelled=_tiny_labelled())
    source = tmp_path / "tiny.csv"
    source.write_text(TINY_TRAIN, encoding="utf-8")
    train_command(source, topics, io.StringIO(), TrainParams(epochs=2))
    with_types = with_table(classifier, types)
    assert with_types.learned is not classifier.learned
    assert with_types.urgency is classifier.urgency
    with_urgency = with_table(classifier, urgency)
    assert with_urgency.urgency is not classifier.urgency
    assert with_urgency.learned is classifier.learned
    # The table is what decides: with it, the fire messages (typed 盗窃 here) are routed.
    fires = [item for item in _tiny_labelled() if item.urgency == "life"]
    before = evaluate_routing(classifier, fires).department_accuracy
    assert evaluate_routing(with_types, fires).department_accuracy > before
    with pytest.raises(ValueError, match="not a learned table.*交通, 环境"):
        with_table(classifier, topics)  # a topic table: its labels are no types
