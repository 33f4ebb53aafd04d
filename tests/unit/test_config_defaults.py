"""Every config default is defined once, in infra/config/schema.py.

The pure core (convertix/) may not import infra/, so where it needs a value
without any config it keeps a mirror of the schema's default: each mirror is
listed here and held equal. Everything else is found by reading the code: a
parameter, class field or module constant named after a config key, or a
literal fallback for a config key (`config.get("KEY", 10)`), outside the
schema, fails here unless it is a listed mirror or a listed other quantity
that shares the name. And each setting has one name: the gateway's Flask key
is the config key in capitals, as is config.yaml's environment variable for
it."""
import ast
import inspect
import os
import re

import pytest
import yaml

from convertix.imaging import confine
from convertix.imaging.limits import Limits
from convertix.imaging.sandbox import Sandbox
from gateway.settings import FROM_CONFIG, NAMED, READS, flask_key
from infra.config.schema import CONFIG, CONVERTER, CONVERTER_WORKERS_ENV, LIMITS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PRODUCT = ("convertix", "convertix_cli", "gateway", "infra", "scaler", "services")
SCHEMA_FILE = os.path.join("infra", "config", "schema.py")


def _sandbox_default(name, method=Sandbox.__init__):
    return inspect.signature(method).parameters[name].default


# (section, key) -> the pure core's copies of its default
MIRRORS = {
    (CONVERTER, "memory_mb"): [confine.DEFAULT_MEMORY_MB, _sandbox_default("memory_mb")],
    (CONVERTER, "sandbox_user"): [confine.DEFAULT_USER, _sandbox_default("user")],
    (CONVERTER, "sandbox_max_file_mb"): [confine.DEFAULT_MAX_FILE_MB,
                                         _sandbox_default("max_file_mb")],
    (CONVERTER, "sandbox_max_open_files"): [confine.DEFAULT_MAX_OPEN_FILES,
                                            _sandbox_default("max_open_files")],
    (CONVERTER, "timeout_s"): [_sandbox_default("timeout_s", Sandbox.convert)],
    **{(LIMITS, name): [getattr(Limits(), name)] for name in Limits.__dataclass_fields__},
}
# where a mirror's name appears in the code: file -> names
MIRROR_SITES = {
    os.path.join("convertix", "imaging", "confine.py"): {"DEFAULT_MEMORY_MB"},
    os.path.join("convertix", "imaging", "sandbox.py"): {"timeout_s"},
    os.path.join("convertix", "imaging", "limits.py"): set(Limits.__dataclass_fields__),
}
# file -> names that are another quantity than the config key of that name
OTHER_QUANTITIES = {
    # the ImageMagick policy probe's own deadline, not a conversion's
    os.path.join("convertix", "imaging", "magick", "policy_check.py"): {"timeout_s"},
    # a log record's service field, not SCALER.swarm.service
    os.path.join("infra", "logs", "search.py"): {"service"},
    # the notifier's tick, not the scaler's poll
    os.path.join("services", "notifier", "service.py"): {"POLL_INTERVAL_S"},
    # /readyz's wait for supervisord's answer, not the converter's timeout
    os.path.join("infra", "supervise", "state.py"): {"TIMEOUT_S"},
}


def config_keys(section=CONFIG):
    """The keys that hold a value (not the sections)."""
    for key in section.keys.values():
        if hasattr(key.check, "keys"):
            yield from config_keys(key.check)
        else:
            yield key.name


KEYS = set(config_keys())


def product_files():
    for top in PRODUCT:
        for folder, _, files in os.walk(os.path.join(ROOT, top)):
            for name in files:
                if name.endswith(".py"):
                    path = os.path.join(folder, name)
                    relative = os.path.relpath(path, ROOT)
                    if relative != SCHEMA_FILE:
                        yield relative, path


def _literal(node):
    """A number or string written out (1024, 50 * 2**20, "10 per minute")."""
    return isinstance(node, (ast.Constant, ast.BinOp, ast.UnaryOp)) and \
        all(isinstance(n, (ast.Constant, ast.BinOp, ast.UnaryOp, ast.operator, ast.unaryop))
            for n in ast.walk(node)) and getattr(node, "value", 0) is not None


def defaults_outside_the_schema(tree):
    """(name, line) of every literal default in `tree` named after a config key."""
    def named(name):
        return name in KEYS or name.lower().removeprefix("default_") in KEYS
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = node.args
            positional = args.posonlyargs + args.args
            pairs = list(zip(positional[len(positional) - len(args.defaults):], args.defaults))
            pairs += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None]
            yield from ((a.arg, d.lineno) for a, d in pairs if named(a.arg) and _literal(d))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            if node.value is not None and named(node.target.id) and _literal(node.value):
                yield node.target.id, node.lineno
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and \
                isinstance(node.targets[0], ast.Name):
            if named(node.targets[0].id) and _literal(node.value):
                yield node.targets[0].id, node.lineno
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                node.func.attr in ("get", "setdefault") and len(node.args) == 2:
            key, fallback = node.args
            if isinstance(key, ast.Constant) and isinstance(key.value, str) and \
                    (key.value in KEYS or key.value in FROM_CONFIG) and _literal(fallback):
                yield key.value, node.lineno


def config_as_written():
    """config.yaml without any resolver (nameko's expands ${VAR:default}): text as written."""
    with open(os.path.join(ROOT, "config.yaml")) as handle:
        return yaml.load(handle, Loader=yaml.BaseLoader)


@pytest.mark.parametrize("section, key", list(MIRRORS), ids=lambda v: getattr(v, "name", v))
def test_each_mirror_in_the_pure_core_is_the_schemas_default(section, key):
    assert all(copy == section.default[key] for copy in MIRRORS[(section, key)]), \
        (key, MIRRORS[(section, key)], section.default[key])


def test_no_other_default_is_written_outside_the_schema():
    found = []
    for relative, path in product_files():
        with open(path) as handle:
            tree = ast.parse(handle.read(), relative)
        allowed = MIRROR_SITES.get(relative, set()) | OTHER_QUANTITIES.get(relative, set())
        found += [f"{relative}:{line}: {name}"
                  for name, line in defaults_outside_the_schema(tree) if name not in allowed]
    assert not found, "defaults outside infra/config/schema.py:\n" + "\n".join(found)


def test_the_scan_finds_what_it_looks_for():
    code = ('def f(memory_mb=1024, other=3): pass\n'
            'DEFAULT_MAX_FILES = 50\n'
            'x = config.get("LOGIN_RATE_LIMIT_PER_USER", "10 per minute")\n'
            'y = config.get("RPC_TIMEOUT_S", default("RPC_TIMEOUT_S"))\n'
            'class C:\n    max_pixels: int = 10\n')
    assert sorted(name for name, _ in defaults_outside_the_schema(ast.parse(code))) == \
        ["DEFAULT_MAX_FILES", "LOGIN_RATE_LIMIT_PER_USER", "max_pixels", "memory_mb"]


def test_a_flask_key_is_its_config_key_in_capitals():
    for key_name, (section, key) in FROM_CONFIG.items():
        assert key_name == flask_key(key) or key_name in NAMED, key_name
        assert key in section.keys, f"{section.name}.{key}"


def test_an_environment_variable_the_gateway_reads_has_the_same_name():
    raw = config_as_written()
    for section, key in READS:
        written = raw.get(section.name, {}).get(key)
        variable = re.match(r"\$\{(\w+)", str(written))
        assert variable is None or variable.group(1) == flask_key(key), (section.name, key)


def test_the_converters_workers_come_from_the_variable_the_scaler_sets():
    raw = config_as_written()
    assert raw[CONVERTER.name]["workers"].startswith("${" + CONVERTER_WORKERS_ENV + ":")
