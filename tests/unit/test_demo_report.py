"""The demo fails when detection falls short of what the story promises, a dead detector
included (it used to report a recall of 0.454 and exit 0)."""

from domain.fraud.evaluation import Evaluation, PatternScore
from tools.demo.report import DemoReport


def report_of(*scores: PatternScore) -> DemoReport:
    return DemoReport(run_id="r", evaluation=Evaluation("r", list(scores), []))


def test_detection_as_promised_is_no_shortfall() -> None:
    assert report_of(PatternScore("card_testing", 10, 10, 10, 10)).shortfalls() == []


def test_a_detector_that_fell_behind_is_a_shortfall() -> None:
    shortfalls = report_of(PatternScore("card_testing", 11, 5, 5, 5)).shortfalls()
    assert [line.split(" is ")[0] for line in shortfalls] == ["detection recall 0.455"]


def test_a_dead_detector_is_a_shortfall_of_both() -> None:
    shortfalls = report_of(PatternScore("card_testing", 10, 0, 0, 0)).shortfalls()
    assert len(shortfalls) == 2
    assert "./hybrid stack status" in shortfalls[0]


def test_no_stream_scored_is_no_shortfall() -> None:
    assert DemoReport(run_id="r").shortfalls() == []


def test_each_phase_is_timed_until_the_next_begins() -> None:
    from core.settings import get_settings
    from tools.demo.report import DemoConfig
    from tools.demo.story import Demo

    said: list[str] = []
    demo = Demo(get_settings(), DemoConfig(), said.append)
    for name in ["seed", "stream", "pipeline"]:
        demo.phase(name, f"[{name}]")
    demo.phase(None)
    assert said == ["[seed]", "[stream]", "[pipeline]"]
    assert [name for name, _ in demo.report.phases] == ["seed", "stream", "pipeline"]
    assert all(0 <= seconds < 1 for _, seconds in demo.report.phases)
