"""Limits the dialog enforces on what a resident sends."""

from pydantic import BaseModel, ConfigDict, Field


class Limits(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text_min_chars: int = Field(default=5, ge=1)
    text_max_chars: int = Field(default=2000, ge=10)
    photos_per_appeal: int = Field(default=9, ge=0)
    photo_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    appeals_per_day: int = Field(default=10, ge=1)
    draft_idle_minutes: int = Field(default=720, ge=1)
    address_max_chars: int = Field(default=200, ge=10)
    phone_required: bool = False  # False: a resident may file without a phone (跳过)
