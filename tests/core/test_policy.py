"""Policies: presets of the alert timings, overridable key by key, from code and from config files."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from smartsession.config import load_config
from smartsession.core.settings import POLICY_TIMING, EngagementSettings, Policy, Timing


def test_the_defaults_are_the_lecture_preset() -> None:
    timing = msgspec.structs.asdict(Timing())
    assert {key: timing[key] for key in POLICY_TIMING[Policy.LECTURE]} == POLICY_TIMING[Policy.LECTURE]
    assert EngagementSettings() == EngagementSettings.for_policy(Policy.LECTURE)
    assert load_config(None, env={}).engagement == EngagementSettings()


@pytest.mark.parametrize("policy", list(Policy))
def test_a_policy_sets_its_timings(policy: Policy) -> None:
    settings = EngagementSettings.for_policy(policy)
    assert settings.policy is policy
    timing = msgspec.structs.asdict(settings.timing)
    for key, value in POLICY_TIMING[policy].items():
        assert timing[key] == value


def test_presets_as_documented() -> None:
    lab, exam = EngagementSettings.for_policy(Policy.LAB), EngagementSettings.for_policy(Policy.EXAM)
    assert lab.timing.looking_down == 0.0  # never an alert
    assert (exam.timing.looking_away, exam.timing.multiple_faces, exam.timing.no_face) == (4.0, 2.0, 5.0)
    assert exam.timing.looking_down == exam.timing.looking_away


def test_a_config_file_overrides_a_preset_key_by_key(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    path.write_text('[engagement]\npolicy = "lab"\n[engagement.timing]\nlooking_away = 6.0\n')
    settings = load_config(path, env={}).engagement
    assert settings.policy is Policy.LAB
    assert settings.timing.looking_away == 6.0  # the file's
    assert settings.timing.multiple_faces == POLICY_TIMING[Policy.LAB]["multiple_faces"]  # the preset's
    assert settings.timing.looking_down == 0.0
    assert settings.timing.alert_clear == Timing().alert_clear  # no preset: the default


def test_the_policy_comes_from_the_environment_too(tmp_path: Path) -> None:
    settings = load_config(None, env={"SMARTSESSION__ENGAGEMENT__POLICY": "exam"}).engagement
    assert settings.policy is Policy.EXAM
    assert settings.timing.looking_down == POLICY_TIMING[Policy.EXAM]["looking_down"]


def test_an_unknown_policy_is_a_config_problem(tmp_path: Path) -> None:
    from smartsession.errors import ConfigError

    path = tmp_path / "agent.toml"
    path.write_text('[engagement]\npolicy = "seminar"\n')
    with pytest.raises(ConfigError, match=r"engagement\.policy: expected one of 'lecture', 'lab', 'exam'"):
        load_config(path, env={})
