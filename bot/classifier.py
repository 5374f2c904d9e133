"""The classifier as config.yaml describes it (kept apart from bot.app, which loads the whole
bot: `appealbot classify` and the classifier's cold start need only this)."""

from __future__ import annotations

from bot.settings import Settings
from nlp.classifier import Classifier


def build_classifier(settings: Settings) -> Classifier:
    return Classifier(
        settings.types,
        keywords_path=settings.nlp.keyword_table,
        types_path=settings.nlp.type_table,
        urgency_path=settings.nlp.urgency_table,
        disposition_path=settings.nlp.disposition_table,
        townships=[d.name for d in settings.departments if d.kind == "township"],
        min_confidence=settings.nlp.min_confidence,
        calibration=settings.nlp.calibration,
    )
