"""Loading, validating and reloading the clinic-editable rules file."""

import json
import re
from pathlib import Path
from typing import Any

import pytest

from inquiry.triage import RulesError, default_rules, load_rules, reload_rules, triage
from inquiry.triage.patterns import alternation
from inquiry.triage.rules import DEFAULT_RULES_PATH


def packaged() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DEFAULT_RULES_PATH.read_text(encoding="utf-8"))
    return data


def write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _restore_default_rules() -> Any:
    yield
    reload_rules(DEFAULT_RULES_PATH)


class TestLoadRules:
    def test_packaged_rules_load_and_are_cached(self) -> None:
        assert default_rules() is default_rules()
        assert load_rules().source == str(DEFAULT_RULES_PATH)

    def test_rules_error_is_a_value_error(self) -> None:
        assert issubclass(RulesError, ValueError)

    def test_missing_file_names_the_file(self, tmp_path: Path) -> None:
        missing = tmp_path / "nope.json"
        with pytest.raises(RulesError, match=re.escape(str(missing))):
            load_rules(missing)

    def test_bad_json_gives_line_and_column(self, tmp_path: Path) -> None:
        path = tmp_path / "rules.json"
        path.write_text('{"version": 2,\n  "crisis": }', encoding="utf-8")
        with pytest.raises(RulesError, match=r"rules\.json: not valid JSON at line 2, column 13"):
            load_rules(path)

    def test_invalid_regex_names_its_place(self, tmp_path: Path) -> None:
        data = packaged()
        data["topics"]["billing"][0]["terms"][0] = "receipt(s"
        with pytest.raises(
            RulesError, match=r"topics\.billing\.0\.terms\.0: .*invalid regular expression"
        ) as error:
            load_rules(write(tmp_path, data))
        assert str(tmp_path / "rules.json") in str(error.value)

    @pytest.mark.parametrize(
        ("change", "message"),
        [
            (lambda d: d.update(version=1), r"version"),
            (lambda d: d.update(surprise=True), r"surprise: Extra inputs are not permitted"),
            (lambda d: d["topics"].pop("general"), r"missing \['general'\]"),
            (lambda d: d["topics"].update(holidays=[]), r"topics\.holidays"),
            (
                lambda d: d["topics"]["billing"][0].update(weight=-1),
                r"weight: Input should be greater than 0",
            ),
            (lambda d: d["crisis"].update(concepts={}), r"crisis\.concepts"),
            (
                lambda d: d["crisis"]["concepts"]["ideation"]["terms"].append("(?:maybe)?"),
                r"crisis\.concepts\.ideation\.terms\.\d+: .*matches empty text",
            ),
            (
                lambda d: d["crisis"]["concepts"]["ideation"]["terms"].append("(?P<x>end)"),
                r"named groups",
            ),
            (
                lambda d: d["crisis"]["concepts"]["ideation"].update(level="severe"),
                r"crisis\.concepts\.ideation\.level",
            ),
            (lambda d: d["crisis"]["concepts"].update({"Bad Name": {}}), r"Bad Name"),
            (lambda d: d["crisis"]["context"][0].update(effect="maybe"), r"context\.0\.effect"),
            (lambda d: d["crisis"]["context"][0].update(direction="up"), r"context\.0\.direction"),
            (lambda d: d["crisis"]["context"][0].update(window=-1), r"context\.0\.window"),
            (lambda d: d["crisis"]["spelling"].update({"two words": "x"}), r"spelling"),
            (lambda d: d["model"].update(crisis_threshold=1.5), r"model\.crisis_threshold"),
            (lambda d: d.pop("model"), r"model: Field required"),
            (lambda d: d.update(tie_order=["billing"]), r"tie_order"),
            (lambda d: d["spam"].update(threshold=0), r"spam\.threshold"),
            (lambda d: d["spam"].update(own_sites=["https://x.ca/"]), r"spam\.own_sites\.0"),
        ],
    )
    def test_invalid_content_is_refused_clearly(
        self, tmp_path: Path, change: Any, message: str
    ) -> None:
        data = packaged()
        change(data)
        with pytest.raises(RulesError, match=message):
            load_rules(write(tmp_path, data))


class TestModelFile:
    def test_missing_model_is_refused_with_its_name(self, tmp_path: Path) -> None:
        missing = tmp_path / "model.json"
        with pytest.raises(RulesError, match=r"model\.json: cannot read the triage model"):
            load_rules(model_path=missing)

    @pytest.mark.parametrize(
        ("content", "message"),
        [
            ("{", r"not valid JSON"),
            ('{"format": 9}', r"not a triage model: expected an object with format 2"),
            (
                '{"format": 2, "topics": ["crisis"], "bias": [0], "weights": {}}',
                r"every triage topic",
            ),
        ],
    )
    def test_invalid_model_is_refused_clearly(
        self, tmp_path: Path, content: str, message: str
    ) -> None:
        path = tmp_path / "model.json"
        path.write_text(content, encoding="utf-8")
        with pytest.raises(RulesError, match=message):
            load_rules(model_path=path)


class TestReload:
    def test_reload_changes_a_concept_and_its_context(self, tmp_path: Path) -> None:
        data = packaged()
        data["crisis"]["concepts"]["ideation"]["terms"].append("purple elephant")
        path = write(tmp_path, data)
        assert not triage("", "the purple elephant is back").crisis
        reload_rules(path)
        result = triage("", "the purple elephant is back")
        assert result.crisis
        assert result.reasons[0] == "ideation: 'purple elephant' \u2014 present"

    def test_failed_reload_keeps_the_rules_in_use(self, tmp_path: Path) -> None:
        before = default_rules()
        broken = tmp_path / "broken.json"
        broken.write_text("{", encoding="utf-8")
        with pytest.raises(RulesError):
            reload_rules(broken)
        assert default_rules() is before

    def test_explicit_rules_win_over_the_default(self, tmp_path: Path) -> None:
        data = packaged()
        data["crisis"]["concepts"]["ideation"]["terms"].append("purple elephant")
        custom = load_rules(write(tmp_path, data))
        message = "Is the purple elephant parking lot open on Sunday?"
        assert triage("", message, rules=custom).crisis
        assert not triage("", message).crisis


class TestAlternation:
    TERMS = [
        "cost[a-z]*",
        "covered",
        "cover",
        "(?:don'?t|dont) want(?: to)? live",
        "monday|tuesday",
        "[$][0-9]+",
        "a(?:b|c)?d",
        "(?:since|after) (?:my |the )?infusion",
        "(?:x|y)+z",
    ]
    TEXTS = [
        "cost costs covered cover",
        "i dont want to live, i don't want live",
        "monday tuesday $199 ad abd acd",
        "since infusion after my infusion since the infusion",
        "xz xyxz",
    ]

    @pytest.mark.parametrize("text", TEXTS)
    def test_matches_what_the_plain_alternation_matches(self, text: str) -> None:
        plain = re.compile(" (?:" + "|".join(f"(?:{t})" for t in self.TERMS) + ")(?![a-z0-9])")
        fast = re.compile(" " + alternation(self.TERMS) + "(?![a-z0-9])")
        padded = " " + text
        found = {m.span() for m in fast.finditer(padded)}
        assert found == {m.span() for m in plain.finditer(padded)}


def test_use_rules_reads_a_file_once_and_switches_when_asked(tmp_path: Path) -> None:
    from inquiry.triage import use_rules

    packaged = use_rules(None)
    assert use_rules(None) is packaged
    assert default_rules() is packaged
    copy = tmp_path / "rules.json"
    copy.write_text(DEFAULT_RULES_PATH.read_text())
    clinic = use_rules(copy)
    assert clinic is not packaged
    assert use_rules(copy) is clinic
    assert use_rules(None) is not clinic  # back to the packaged file
