"""Scenario loading: valid files resolve fully; every malformed one is a located ScenarioError.

Loader tests register the stand-in classes of ``plugins_for_tests`` under the
built-in names, so they keep testing the loader whatever the real sensors'
parameters become; a few tests at the end exercise the real built-ins.
"""

from __future__ import annotations

import copy
import math
import pickle
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.errors import PluginError, RunError, ScenarioError, SimError, WorkerDied
from sim.scenario import registry
from sim.scenario.load import load_scenario, parse_scenario
from sim.scenario.models import ControllerSpec, Scenario, SensorSpec, scenario_json_schema

TESTS = Path(__file__).resolve().parent
BAD = TESTS / "scenarios_bad"
SHIPPED = sorted((TESTS.parent / "scenarios").glob("*.yaml"))
EXPECT = re.compile(r"^#\s*expect:\s*(?P<text>.*?)\s*@\s*(?P<line>\d+)\s*$")

VALID = """\
name: demo
description: two robots in a small warehouse
world:
  size: [20.0, 10.0]
  walls:
    - [[12.0, 6.0], [12.0, 9.0]]
  obstacles:
    - {name: shelf-1, kind: shelf, rect: [5.0, 2.0, 4.0, 1.0]}
    - {kind: pillar, polygon: [[15.0, 2.0], [16.0, 2.0], [16.0, 3.0]]}
  places:
    - {name: pick-A1, kind: pick, position: [6.0, 4.0]}
physics: {step: 0.01, workers: 0}
run: {duration: 10.0, seed: 1, clock: virtual}
robots:
  - name: r1
    start: [1.0, 1.0, 0.0]
    sensors:
      - type: lidar
        rate_hz: 1e1
        beams: 90
        filter: {window: 5}
      - type: lidar
        name: rear
        max_age: 0.5
      - type: 'plugins_for_tests:GoodPluginSensor'
    controller:
      type: waypoint
      period: 0.05
      wait_for: [lidar, rear]
      waypoints: [[15.0, 5.0]]
  - name: r2
    start: [3.0, 8.0, 1.57]
    radius: 0.25
    controller: {type: waypoint, deadline: 0.02, cruise_speed: 0.5}
events:
  - {at: 2.0, action: set_waypoints, robot: r1, waypoints: [[3.0, 3.0]]}
  - {at: 5.0, action: stop_robot, robot: r2}
"""


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Built-in names -> test stand-ins, restored afterwards; plugins_for_tests importable."""
    monkeypatch.syspath_prepend(str(TESTS))
    monkeypatch.setattr(registry, "_TABLES", {k: dict(v) for k, v in registry._TABLES.items()})
    registry.register_sensor("lidar", "plugins_for_tests:FakeLidar")
    for name in ("odometry", "imu", "bumper", "localization"):
        registry.register_sensor(name, "plugins_for_tests:FakeSimpleSensor")
    registry.register_controller("waypoint", "plugins_for_tests:FakeWaypoint")
    registry.register_controller("warehouse", "plugins_for_tests:FakeWaypoint")


def write(tmp_path: Path, text: str, name: str = "scn.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load_error(path: Path, overrides: dict[str, Any] | None = None) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        load_scenario(path, overrides)
    return info.value


# ---------------------------------------------------------------- the bad corpus


def corpus() -> list[Path]:
    return sorted(BAD.glob("*.yaml"))


def test_corpus_is_large_enough() -> None:
    assert len(corpus()) >= 40


@pytest.mark.usefixtures("fakes")
@pytest.mark.parametrize("path", corpus(), ids=lambda p: p.stem)
def test_bad_scenario(path: Path) -> None:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    match = EXPECT.match(first)
    assert match, f"{path.name}: first line must be '# expect: <text> @ <line>'"
    err = load_error(path)
    assert match["text"] in str(err), f"{path.name}: {err}"
    assert err.line == int(match["line"]), f"{path.name}: {err}"
    assert err.path == str(path)
    assert str(err).startswith(f"{path}:{err.line}:")
    assert "\n" not in str(err)


# ---------------------------------------------------------------- valid scenarios


@pytest.mark.usefixtures("fakes")
def test_valid_scenario_resolves_everything(tmp_path: Path) -> None:
    scn = load_scenario(write(tmp_path, VALID, "small-warehouse.yaml"))
    assert scn.name == "demo"
    assert scn.source == tmp_path / "small-warehouse.yaml"
    r1, r2 = scn.robots
    lidar, rear, plugin = r1.sensors
    assert isinstance(lidar, SensorSpec)
    assert lidar.cls.__name__ == "FakeLidar"
    assert lidar.name == "lidar"
    assert lidar.rate_hz == 10.0  # YAML 1.2 style 1e1 is a float, not a string
    assert lidar.params.beams == 90  # type: ignore[attr-defined]
    assert lidar.params.filter.window == 5  # type: ignore[attr-defined]
    assert lidar.max_age == pytest.approx(0.3)  # null -> 3 / rate_hz
    assert rear.name == "rear"
    assert rear.max_age == 0.5
    assert plugin.name == "goodpluginsensor"  # plugins default to the class name lowercased
    assert isinstance(r1.controller, ControllerSpec)
    assert r1.controller.deadline == 0.05  # null -> period
    assert r1.controller.params.waypoints == [(15.0, 5.0)]  # type: ignore[attr-defined]
    assert r2.controller.deadline == 0.02
    assert r2.controller.params.cruise_speed == 0.5  # type: ignore[attr-defined]
    assert r2.sensors == []
    shelf, pillar = scn.world.obstacles
    assert shelf.polygon().tolist() == [[5, 2], [9, 2], [9, 3], [5, 3]]
    assert pillar.name == "obstacle-1"
    assert pillar.polygon().shape == (3, 2)
    assert scn.events[0].waypoints == [(3.0, 3.0)]
    assert scn.run.clock == "virtual"
    assert scn.run.time_scale == 1.0


@pytest.mark.usefixtures("fakes")
def test_name_defaults_to_file_stem(tmp_path: Path) -> None:
    scn = load_scenario(write(tmp_path, VALID.replace("name: demo\n", ""), "aisle-7.yaml"))
    assert scn.name == "aisle-7"


@pytest.mark.usefixtures("fakes")
def test_dump_and_reload_round_trip(tmp_path: Path) -> None:
    scn = load_scenario(write(tmp_path, VALID))
    dumped = scn.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert "cls" not in dumped["robots"][0]["sensors"][0]
    assert dumped["robots"][0]["sensors"][0]["beams"] == 90  # flat params survive
    again = load_scenario(write(tmp_path, yaml.safe_dump(dumped, sort_keys=False), "again.yaml"))
    assert again.model_dump(by_alias=True) == scn.model_dump(by_alias=True)


@pytest.mark.usefixtures("fakes")
def test_overrides_apply_before_validation(tmp_path: Path) -> None:
    path = write(tmp_path, VALID)
    scn = load_scenario(path, {"run.duration": 20, "run.seed": 3, "run.time_scale": 2.0,
                               "robots.1.max_speed": 1.5, "physics.step": "0.005"})
    assert (scn.run.duration, scn.run.seed, scn.run.time_scale) == (20.0, 3, 2.0)
    assert scn.robots[1].max_speed == 1.5
    assert scn.physics.step == 0.005


@pytest.mark.usefixtures("fakes")
def test_override_creates_missing_section(tmp_path: Path) -> None:
    text = VALID.replace("run: {duration: 10.0, seed: 1, clock: virtual}\n", "")
    scn = load_scenario(write(tmp_path, text), {"run.seed": 7})
    assert scn.run.seed == 7


@pytest.mark.usefixtures("fakes")
def test_bad_override_value_says_it_came_from_the_override(tmp_path: Path) -> None:
    err = load_error(write(tmp_path, VALID), {"run.duration": -1})
    assert err.line is None
    assert err.field == "run.duration"
    assert "(value set by an override)" in str(err)
    assert "must be > 0" in str(err)


@pytest.mark.usefixtures("fakes")
@pytest.mark.parametrize("key", ["robots.9.max_speed", "name.sub", "robots.x.name"])
def test_override_path_that_cannot_exist(tmp_path: Path, key: str) -> None:
    err = load_error(write(tmp_path, VALID), {key: 1})
    assert f"override {key!r}" in str(err)


# ---------------------------------------------------------------- error reporting


@pytest.mark.usefixtures("fakes")
def test_error_renders_on_one_line_with_location(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace("rate_hz: 1e1", "rate_hz: -5"))
    err = load_error(path)
    assert str(err) == (f"{path}:19:18: robots[0].sensors[0].rate_hz: got -5; "
                        "must be > 0 (range (0, 1000] Hz)")
    assert (err.line, err.column, err.field, err.value) == (19, 18, "robots[0].sensors[0].rate_hz", -5)


@pytest.mark.usefixtures("fakes")
def test_first_error_in_file_order_and_count_of_the_rest(tmp_path: Path) -> None:
    text = VALID.replace("seed: 1", "seed: -1").replace("beams: 90", "beams: 0").replace(
        "radius: 0.25", "radius: 50")
    err = load_error(write(tmp_path, text))
    assert err.field == "run.seed"
    assert str(err).endswith("(and 2 more)")
    assert [e.field for e in err.all_errors()] == [
        "run.seed", "robots[0].sensors[0].beams", "robots[1].radius"]


@pytest.mark.usefixtures("fakes")
def test_typo_hides_the_missing_key_it_causes(tmp_path: Path) -> None:
    err = load_error(write(tmp_path, VALID.replace("robots:", "robts:")))
    assert err.suggestion == "robots"
    assert not any("missing required key 'robots'" in str(e) for e in err.all_errors())


def test_missing_file(tmp_path: Path) -> None:
    err = load_error(tmp_path / "nope.yaml")
    assert "scenario file not found" in str(err)
    assert err.path == str(tmp_path / "nope.yaml")


def test_directory_instead_of_file(tmp_path: Path) -> None:
    assert "is a directory" in str(load_error(tmp_path))


def test_zero_byte_file(tmp_path: Path) -> None:
    err = load_error(write(tmp_path, ""))
    assert "scenario file is empty" in str(err)
    assert err.line == 1


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: caf\xe9\n".encode("latin-1"))
    assert "not UTF-8" in str(load_error(path))


def test_recursive_alias_is_an_error_not_a_hang(tmp_path: Path) -> None:
    assert "recursive YAML alias" in str(load_error(write(tmp_path, "a: &x [*x]\n")))


def test_alias_bomb_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from sim.scenario import marks as yamlmarks

    monkeypatch.setattr(yamlmarks, "MAX_NODES", 10_000)
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"{c}: &{c} [{', '.join([f'*{p}'] * 10)}]" for p, c in zip("abcdefgh", "bcdefghi", strict=True)]
    with pytest.raises(ScenarioError, match="document too large"):
        parse_scenario("\n".join(lines))


@pytest.mark.usefixtures("fakes")
def test_anchors_and_merge_keys(tmp_path: Path) -> None:
    text = VALID.replace("""      - type: lidar
        name: rear
        max_age: 0.5
""", """      - &rear {type: lidar, name: rear, max_age: 0.5, beams: 45}
      - {<<: *rear, name: rear2, beams: 30}
""")
    scn = load_scenario(write(tmp_path, text))
    rear, rear2 = scn.robots[0].sensors[1:3]
    assert (rear.name, rear.params.beams, rear2.name, rear2.params.beams) == ("rear", 45, "rear2", 30)  # type: ignore[attr-defined]
    assert rear2.max_age == 0.5


def test_duplicate_key_written_twice_is_an_error_even_beside_a_merge() -> None:
    with pytest.raises(ScenarioError, match=r"^<scenario>:1:23: duplicate key 'x'$"):
        parse_scenario("a: {x: 1, <<: {y: 2}, x: 3}")


def test_parse_scenario_from_text() -> None:
    with pytest.raises(ScenarioError, match=r"^<inline>:1:1: missing required key 'world'"):
        parse_scenario("name: x\n", name="inline")


def test_error_types_and_pickling() -> None:
    err = ScenarioError("must be > 0 (Hz)", path="s.yaml", line=3, column=7, field="run.x", value=None,
                        suggestion="y", others=[ScenarioError("second")])
    assert str(err) == "s.yaml:3:7: run.x: got null; must be > 0 (Hz); did you mean 'y'? (and 1 more)"
    again = pickle.loads(pickle.dumps(err))
    assert (str(again), again.value, again.others[0].message) == (str(err), None, "second")
    plugin = pickle.loads(pickle.dumps(PluginError("bad", type_name="a:B")))
    assert isinstance(plugin, ScenarioError) and plugin.type_name == "a:B"
    died = pickle.loads(pickle.dumps(WorkerDied(1, 4242, -9)))
    assert isinstance(died, RunError) and isinstance(died, SimError) and isinstance(died, RuntimeError)
    assert (str(died), died.exitcode) == ("physics worker 1 (pid 4242) died with exit code -9 (killed by SIGKILL)", -9)
    assert str(ScenarioError("scenario file not found")) == "<scenario>: scenario file not found"


# ---------------------------------------------------------------- JSON schema


def _walk_properties(node: Any, out: list[tuple[str, dict[str, Any]]], where: str = "") -> None:
    if isinstance(node, dict):
        for name, prop in (node.get("properties") or {}).items():
            out.append((f"{where}.{name}", prop))
        for key, value in node.items():
            if key != "allOf":  # per-type params of plugin classes: documented by their authors
                _walk_properties(value, out, f"{where}/{key}")
    elif isinstance(node, list):
        for value in node:
            _walk_properties(value, out, where)


@pytest.mark.usefixtures("fakes")
def test_json_schema_documents_every_field() -> None:
    schema = scenario_json_schema()
    props: list[tuple[str, dict[str, Any]]] = []
    _walk_properties({k: v for k, v in schema.items() if k != "$defs"}, props)
    for name in ("World", "Obstacle", "Place", "Physics", "Run", "Robot",
                 "SensorSpec", "ControllerSpec", "Latency", "QueueSpec", "Event"):
        _walk_properties(schema["$defs"][name], props, name)
    assert len(props) > 50
    undocumented = [where for where, prop in props if "description" not in prop and "$ref" not in prop]
    assert not undocumented
    defs = schema["$defs"]
    assert defs["SensorSpec"]["properties"]["rate_hz"]["unit"] == "Hz"
    assert defs["SensorSpec"]["properties"]["rate_hz"]["exclusiveMinimum"] == 0
    assert defs["SensorSpec"]["properties"]["max_age"]["anyOf"][0]["maximum"] == 60
    assert "polygon" in defs["Obstacle"]["properties"]
    assert "vertices" not in defs["Obstacle"]["properties"]
    for hidden in ("cls", "params", "source"):
        assert all(not where.endswith("." + hidden) for where, _ in props)
    # The built-in stand-ins' params are offered per type for editors.
    branch = next(b for b in defs["SensorSpec"]["allOf"] if b["if"]["properties"]["type"]["const"] == "lidar")
    assert "beams" in branch["then"]["properties"]


# ---------------------------------------------------------------- property test

SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8),
    st.sampled_from([0, -1, 1, 1e-320, 1e308, -1e308, 2**63, 0.1, "", "1e3", "nan", "lidar"]),
)
VALUES = st.one_of(
    SCALARS,
    st.lists(SCALARS, max_size=4),
    st.dictionaries(st.text(max_size=6), SCALARS, max_size=3),
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += _paths(value, (*prefix, i))
    return out


def _get(node: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        node = node[part]
    return node


@st.composite
def mutated(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    data = copy.deepcopy(yaml.safe_load(VALID))
    for _ in range(draw(st.integers(1, 5))):
        paths = _paths(data)
        path = draw(st.sampled_from(paths))
        op = draw(st.sampled_from(["drop", "replace", "insert", "extreme", "near_miss"]))
        if not path:
            if op == "replace":
                data = {"world": draw(VALUES)}
            continue
        parent, key = _get(data, path[:-1]), path[-1]
        if op == "drop":
            del parent[key]
        elif op == "replace":
            parent[key] = draw(VALUES)
        elif op == "extreme":
            parent[key] = draw(st.sampled_from([0, -1, -1e9, 1e9, 1e300, math.inf, -math.inf, math.nan,
                                                10**30, "", [], {}, None]))
        elif isinstance(parent, dict):
            name = str(key) + draw(st.sampled_from(["", "x", "_"])) if op == "near_miss" else draw(st.text())
            parent[name] = draw(VALUES)
        else:
            parent.insert(int(key), draw(VALUES))
    overrides = draw(st.dictionaries(st.sampled_from(["run.duration", "run.seed", "run.time_scale",
                                                      "robots.0.max_speed", "world.size.0"]),
                                     SCALARS, max_size=2))
    return data, overrides


@pytest.mark.usefixtures("fakes")
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=mutated())
def test_mutated_scenarios_load_or_raise_scenario_error(tmp_path: Path,
                                                       case: tuple[dict[str, Any], dict[str, Any]]) -> None:
    data, overrides = case
    path = write(tmp_path, yaml.safe_dump(data, sort_keys=False, allow_unicode=True), "mutant.yaml")
    try:
        scn = load_scenario(path, overrides)
    except ScenarioError as err:
        text = str(err)
        assert text.startswith(str(path))
        assert "\n" not in text.split(": ", 1)[0]
        assert err.line is None or err.line >= 1
    else:
        assert isinstance(scn, Scenario)
        assert all(s.params is not None for r in scn.robots for s in r.sensors)


# ---------------------------------------------------------------- the real built-ins


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_scenarios_load(path: Path) -> None:
    scn = load_scenario(path)
    assert scn.robots and all(r.controller.cls for r in scn.robots)


def test_real_lidar_params_get_did_you_mean(tmp_path: Path) -> None:
    params = registry.resolve_sensor("lidar").Params.model_fields
    real = max(params, key=len)  # any real parameter name, misspelled by dropping a letter
    text = VALID.replace("        beams: 90\n        filter: {window: 5}\n", f"        {real[:-1]}: 1\n")
    text = text.replace("type: 'plugins_for_tests:GoodPluginSensor'", "type: imu")
    err = load_error(write(tmp_path, text))
    assert err.suggestion == real
    assert err.line == 20


def test_unreadable_file_is_a_located_error_and_cli_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    # Tests run as root, where chmod 000 does not stop a read: simulate the denied open.
    path = write(tmp_path, VALID)

    def denied(self: Path, *args: Any, **kwargs: Any) -> str:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "open", denied)  # the loader opens the file itself, to read at most MAX_BYTES
    err = load_error(path)
    assert str(err) == f"{path}: cannot read scenario file: Permission denied"
    from sim.cli import main

    assert main([str(path), "--headless"]) == 2
    assert "cannot read scenario file: Permission denied" in capsys.readouterr().err


# ---------------------------------------------- hostile input at load (issue 13, classes 1-3)

SMALL = """\
name: small
world:
  size: [10.0, 4.0]
  obstacles:
    - {name: crate, kind: other, rect: [4.0, 1.5, 1.0, 1.0]}
  places:
    - {name: park-1, kind: parking, position: [1.0, 1.0]}
    - {name: pick-1, kind: pick, position: [7.0, 1.0]}
    - {name: pack-1, kind: packing, position: [9.0, 3.0]}
run: {duration: 1.0, seed: 1, clock: virtual}
robots:
  - name: r1
    start: [1.0, 2.0, 0.0]
    sensors:
      - {type: odometry, rate_hz: 20}
    controller: {type: waypoint, period: 0.05, waypoints: [[8.0, 2.0]]}
"""


def small_error(tmp_path: Path, old: str, new: str) -> ScenarioError:
    assert old in SMALL
    return load_error(write(tmp_path, SMALL.replace(old, new, 1)))


def test_small_scenario_loads(tmp_path: Path) -> None:
    assert load_scenario(write(tmp_path, SMALL)).name == "small"


@pytest.mark.parametrize("bad", ['"a\\0b"', "n" * 300, "../../x", "/tmp/abs", "-rf", ".hidden", '"a b"'])
def test_scenario_name_that_could_reach_a_path_is_refused_at_load(tmp_path: Path, bad: str) -> None:
    err = small_error(tmp_path, "name: small", f"name: {bad}")
    assert (err.line, err.field) == (1, "name") and "must match" in str(err)
    assert len(str(err)) < 250 and "\n" not in str(err) and "\0" not in str(err)


@pytest.mark.parametrize("bad", ['"a;b"', '"a=b"', '"a,b"', "'a\"b'", '"a\\nb"', "x" * 65, "a/b"])
def test_sensor_and_robot_names_that_could_break_csv_or_topics_are_refused(tmp_path: Path, bad: str) -> None:
    err = small_error(tmp_path, "{type: odometry, rate_hz: 20}", f"{{type: odometry, name: {bad}}}")
    assert (err.line, err.field) == (15, "robots[0].sensors[0].name") and "must match" in str(err)
    err = small_error(tmp_path, "name: r1", f"name: {bad}")
    assert (err.line, err.field) == (12, "robots[0].name")


def test_the_longest_allowed_name_loads(tmp_path: Path) -> None:
    name = "a" + "b-._" * 15 + "xyz"  # 64 characters
    assert load_scenario(write(tmp_path, SMALL.replace("name: small", f"name: {name}"))).name == name


@pytest.mark.parametrize(("stem", "expected"), [("my run", "my-run"), (".hidden", "scenario-.hidden"),
                                                ("a;b", "a-b")])
def test_a_name_taken_from_the_file_name_is_made_safe(tmp_path: Path, stem: str, expected: str) -> None:
    path = write(tmp_path, SMALL.replace("name: small\n", ""), name=f"{stem}.yaml")
    assert load_scenario(path).name == expected


@pytest.mark.parametrize(("old", "new", "line"), [
    ("seed: 1,", "seed: " + "1" * 5000 + ",", 10),
    ("seed: 1,", "seed: 0x" + "f" * 5000 + ",", 10),
    ("seed: 1,", "seed: 18446744073709551616,", 10),  # 2^64: fits no 64-bit integer
    ("    start: [1.0, 2.0, 0.0]", "    start: [1.0, 2.0, 0.0]\n    radius: " + "9" * 5000, 14),
    ("run:", "? " + "9" * 5000 + "\n: 1\nrun:", 10),  # as a key
], ids=["seed", "hex", "2^64", "radius", "key"])
def test_huge_integers_are_out_of_range_at_load(tmp_path: Path, old: str, new: str, line: int) -> None:
    err = small_error(tmp_path, old, new)
    assert "integer out of range" in str(err) and err.line == line
    assert len(str(err)) < 250


def test_an_int_override_too_big_is_out_of_range_without_its_digits(tmp_path: Path) -> None:
    err = load_error(write(tmp_path, SMALL), {"run.seed": 10 ** 5000})
    assert "got <integer of 5001 digits>" in str(err) and "must be <=" in str(err)


def test_a_huge_unknown_key_is_echoed_short(tmp_path: Path) -> None:
    err = small_error(tmp_path, "run:", "? " + "k" * 100_000 + "\n: 1\nrun:")
    assert "unknown key 'kkkk" in str(err) and len(str(err)) < 250


def test_format_value_never_raises_and_stays_short() -> None:
    from sim.errors import format_value

    assert format_value(10 ** 5000) == "<integer of 5001 digits>"
    assert format_value(-(16 ** 5000)) == "-<integer of 6021 digits>"
    assert format_value([1, 10 ** 5000]) == "[1, <integer of 5001 digits>]"
    assert len(format_value(["x" * 10_000] * 10_000)) <= 60
    assert len(format_value({"k" * 500: 10 ** 9000})) <= 60
    assert format_value("a\nb\0") == "'a\\nb\\x00'"


def test_a_file_over_the_read_cap_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sim.scenario import marks as yamlmarks

    monkeypatch.setattr(yamlmarks, "MAX_BYTES", 1000)
    err = load_error(write(tmp_path, SMALL + "#" * 2000 + "\n"))
    assert "the most that is read" in str(err) and err.line is None


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero on this system")
def test_a_character_device_is_read_up_to_the_cap_only() -> None:
    err = load_error(Path("/dev/zero"))
    assert str(err) == "/dev/zero: scenario file is larger than 16 MB (the most that is read)"


@pytest.mark.parametrize(("old", "new", "field"), [
    ("waypoints: [[8.0, 2.0]]", "waypoints: [[.nan, 2.0]]", "robots[0].controller.waypoints[0][0]"),
    ("waypoints: [[8.0, 2.0]]", "waypoints: [[8.0, .inf]]", "robots[0].controller.waypoints[0][1]"),
    ("waypoints: [[8.0, 2.0]]", "cruise_speed: .nan", "robots[0].controller.cruise_speed"),
    ("{type: waypoint, period: 0.05, waypoints: [[8.0, 2.0]]}",
     "{type: warehouse, period: 0.05, home: [-.inf, 1.0]}", "robots[0].controller.home[0]"),
    ("{type: odometry, rate_hz: 20}", "{type: odometry, rate_hz: 20, wheel_noise: .nan}",
     "robots[0].sensors[0].wheel_noise"),
])
def test_builtin_params_refuse_nan_and_inf(tmp_path: Path, old: str, new: str, field: str) -> None:
    err = small_error(tmp_path, old, new)
    assert err.field == field and "finite" in str(err), str(err)


@pytest.mark.parametrize(("new", "field", "why"), [
    ("waypoints: [[80.0, 2.0]]", "robots[0].controller.waypoints[0]", "is not inside the map"),
    ("waypoints: [[8.0, 2.0], [4.5, 2.0]]", "robots[0].controller.waypoints[1]", "overlaps obstacle 'crate'"),
    ("waypoints: [[9.9, 2.0]]", "robots[0].controller.waypoints[0]", "is not inside the map"),  # body off the map
])
def test_waypoints_the_robot_cannot_occupy_are_errors_at_load(tmp_path: Path, new: str, field: str,
                                                              why: str) -> None:
    err = small_error(tmp_path, "waypoints: [[8.0, 2.0]]", new)
    assert err.field == field and why in str(err) and err.line == 16, str(err)


def test_a_waypoint_on_a_wall_is_an_error(tmp_path: Path) -> None:
    text = SMALL.replace("  places:", "  walls:\n    - [[8.0, 0.5], [8.0, 3.5]]\n  places:")
    err = load_error(write(tmp_path, text))
    assert "overlaps a wall" in str(err) and err.field == "robots[0].controller.waypoints[0]"


def test_warehouse_home_in_an_obstacle_is_an_error(tmp_path: Path) -> None:
    err = small_error(tmp_path, "{type: waypoint, period: 0.05, waypoints: [[8.0, 2.0]]}",
                      "{type: warehouse, period: 0.05, home: [4.5, 2.0]}")
    assert err.field == "robots[0].controller.home" and "overlaps obstacle 'crate'" in str(err)


def test_order_places_a_warehouse_robot_cannot_occupy_are_errors(tmp_path: Path) -> None:
    text = (SMALL.replace("{type: waypoint, period: 0.05, waypoints: [[8.0, 2.0]]}", "{type: warehouse}")
            .replace("position: [7.0, 1.0]", "position: [5.1, 2.0]")  # 0.1 m off the crate's side
            + "orders: {}\n")
    err = load_error(write(tmp_path, text))
    assert err.field == "world.places[1].position" and "overlaps obstacle 'crate'" in str(err), str(err)
    assert "robot 'r1' (radius 0.3 m) sent there by an order" in str(err)
    assert load_scenario(write(tmp_path, text.replace("orders: {}\n", ""), "no_orders.yaml"))  # no orders: fine


def test_a_place_inside_an_obstacle_is_an_error(tmp_path: Path) -> None:
    err = small_error(tmp_path, "position: [7.0, 1.0]", "position: [4.5, 2.0]")
    assert err.field == "world.places[1].position" and "inside obstacle 'crate'" in str(err)


def test_event_waypoints_outside_the_map_are_errors(tmp_path: Path) -> None:
    text = SMALL + "events:\n  - {at: 0.5, action: set_waypoints, robot: r1, waypoints: [[1.0, 1.0], [-3.0, 1.0]]}\n"
    err = load_error(write(tmp_path, text))
    assert err.field == "events[0].waypoints[1]" and "not inside the map" in str(err)


@pytest.mark.parametrize("path", [*SHIPPED, SHIPPED[0].parents[1] / "examples" / "plugin_demo.yaml"],
                         ids=lambda p: p.stem)
def test_shipped_scenarios_pass_the_new_load_checks(path: Path) -> None:
    assert load_scenario(path).name == path.stem
