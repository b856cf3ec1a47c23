"""Which code a project file may name, and which data it may pass to it.

A project names code in two places: ``model.factory`` and ``inputs.transform``, each
``'file.py:name'`` or ``'package.module:name'``. The rules, checked when the project file is
validated (before anything is imported) and again when the code is loaded:

- a ``.py`` file must lie inside the project's folder (symlinks resolved);
- a module must be on the operator's allow-list (:data:`DEFAULT_FACTORY_MODULES` plus the
  comma-separated modules in ``$GENGAP_FACTORY_MODULES``), and never one of
  :data:`FORBIDDEN_MODULES` (``os``, ``subprocess``, ``builtins``, ...), whatever the list says;
- the name is a public identifier (no leading underscore, no dots);
- keyword arguments are plain data (numbers, strings, booleans, None, lists, mappings with
  text keys) of bounded size and depth.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import math
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gengap_dash.project.errors import ProjectError
from gengap_dash.project.yaml_loading import quote

FACTORY_MODULES_ENV = "GENGAP_FACTORY_MODULES"
DEFAULT_FACTORY_MODULES: tuple[str, ...] = ("torch.nn", "torchvision.models")
FORBIDDEN_MODULES: frozenset[str] = frozenset(
    {
        "os", "posix", "nt", "sys", "subprocess", "builtins", "__builtin__", "importlib",
        "shutil", "pickle", "_pickle", "cPickle", "marshal", "shelve", "dill", "cloudpickle",
        "joblib", "ctypes", "cffi", "socket", "ssl", "http", "urllib", "urllib3", "requests",
        "ftplib", "smtplib", "telnetlib", "webbrowser", "runpy", "code", "codeop", "pdb",
        "pty", "signal", "multiprocessing", "concurrent", "threading", "_thread", "asyncio",
        "tempfile", "pathlib", "io", "glob", "fileinput", "types", "functools", "operator",
        "inspect", "gc", "ast", "compileall", "py_compile", "zipimport", "pkgutil", "site",
        "sysconfig", "platform", "resource", "yaml", "tarfile", "zipfile", "sqlite3",
        "torch.hub", "torch.package", "torch.jit", "torch.serialization", "torch.utils",
        "torch.distributed", "torch.multiprocessing", "torch.compiler", "torch._dynamo",
        "torch.ops", "torch.library", "numpy.ctypeslib", "gengap_dash",
    }
)  # fmt: skip
MAX_KWARGS_ITEMS = 1000
MAX_KWARGS_DEPTH = 8
MAX_KWARGS_TEXT = 4096

_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
_MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*\Z")


def allowed_modules(environ: dict[str, str] | None = None) -> tuple[str, ...]:
    """The modules a factory or transform may come from: the defaults plus
    ``$GENGAP_FACTORY_MODULES`` (comma-separated module names)."""
    environ = os.environ if environ is None else environ
    extra = [name.strip() for name in environ.get(FACTORY_MODULES_ENV, "").split(",")]
    return DEFAULT_FACTORY_MODULES + tuple(name for name in extra if name)


def is_forbidden_module(module: str) -> bool:
    """Whether ``module`` is, or lies inside, a module that is never importable as code."""
    parts = module.split(".")
    return any(".".join(parts[:end]) in FORBIDDEN_MODULES for end in range(1, len(parts) + 1))


def module_is_allowed(module: str, environ: dict[str, str] | None = None) -> bool:
    """Whether ``module`` lies under an allow-listed module and under no forbidden one."""
    if is_forbidden_module(module):
        return False
    return any(module == name or module.startswith(name + ".") for name in allowed_modules(environ))


def check_code_reference(reference: str, *, key: str, project_dir: Path) -> None:
    """Refuse a ``model.factory`` / ``inputs.transform`` that could run code from outside the
    project; nothing is imported.

    Args:
        reference: ``'file.py:name'`` or ``'package.module:name'``.
        key: the project key, for messages (e.g. ``model.factory``).
        project_dir: the project file's folder.

    Raises:
        ProjectError: the reference is malformed, a file outside the project's folder, or a
            module that is forbidden or not on the allow-list.
    """
    module, _, attribute = reference.rpartition(":")
    if not module or not _IDENTIFIER.match(attribute):
        raise ProjectError(
            f"{key} is {quote(reference)}; expected 'file.py:Name' or 'package.module:Name' "
            "with a public name (letters, digits, underscores; not starting with _)."
        )
    if module.endswith(".py"):
        project_root = project_dir.resolve()
        file = (project_root / module).resolve()
        if not file.is_relative_to(project_root):
            raise ProjectError(
                f"{key}: {quote(module)} is outside the project's folder; a factory or "
                "transform file must lie inside the folder of the project file."
            )
        return
    if not _MODULE.match(module):
        raise ProjectError(f"{key}: {quote(module)} is not a Python module name.")
    if is_forbidden_module(module):
        raise ProjectError(
            f"{key}: module {quote(module)} is never allowed as a factory or transform; use a "
            ".py file in the project's folder."
        )
    if not module_is_allowed(module):
        raise ProjectError(
            f"{key}: module {quote(module)} is not on the server's allow-list "
            f"({', '.join(allowed_modules())}); put the code in a .py file in the project's "
            f"folder, or ask the operator to add the module to ${FACTORY_MODULES_ENV}."
        )


def check_plain_data(value: Any, *, key: str) -> None:
    """Refuse keyword arguments that are not plain data of bounded size.

    Plain data: None, booleans, finite or infinite numbers, texts of at most
    :data:`MAX_KWARGS_TEXT` characters, lists, and mappings with text keys; at most
    :data:`MAX_KWARGS_ITEMS` values in all and :data:`MAX_KWARGS_DEPTH` levels.

    Raises:
        ProjectError: naming the key path of the first value that is not plain data.
    """
    count = 0
    stack: list[tuple[str, Any, int]] = [(key, value, 0)]
    while stack:
        where, item, depth = stack.pop()
        count += 1
        if count > MAX_KWARGS_ITEMS:
            raise ProjectError(f"{key} holds more than {MAX_KWARGS_ITEMS} values.")
        if depth > MAX_KWARGS_DEPTH:
            raise ProjectError(f"{key} nests deeper than {MAX_KWARGS_DEPTH} levels at {where}.")
        if item is None or isinstance(item, bool | int):
            continue
        if isinstance(item, float):
            if math.isnan(item):
                raise ProjectError(f"{where} is NaN; expected a number.")
            continue
        if isinstance(item, str):
            if len(item) > MAX_KWARGS_TEXT:
                raise ProjectError(
                    f"{where} is a text of {len(item)} characters; at most {MAX_KWARGS_TEXT}."
                )
            continue
        if isinstance(item, list):
            stack.extend((f"{where}[{index}]", v, depth + 1) for index, v in enumerate(item))
            continue
        if isinstance(item, dict):
            for name, v in item.items():
                if not isinstance(name, str):
                    raise ProjectError(f"{where} has the key {quote(name)}; keys must be texts.")
                stack.append((f"{where}.{name}", v, depth + 1))
            continue
        raise ProjectError(
            f"{where} is a {type(item).__name__}; expected plain data (numbers, texts, "
            "booleans, null, lists, mappings)."
        )


def load_callable(reference: str, *, base: Path, key: str) -> Callable[..., Any]:
    """Resolve ``'file.py:name'`` (relative to ``base``) or ``'package.module:name'``.

    The reference is checked first (:func:`check_code_reference`): a file must lie inside
    ``base``, a module must be allow-listed and
    not forbidden, and the callable found must be defined inside an allowed module (no
    re-exported ``os.system``).

    Raises:
        ProjectError: the reference is refused, the file or module cannot be found or
            imported, or has no such name.
    """
    check_code_reference(reference, key=key, project_dir=base)
    module_part, _, attribute = reference.rpartition(":")
    if module_part.endswith(".py"):
        file = Path(module_part)
        file = file if file.is_absolute() else (base / file).resolve()
        if not file.is_file():
            raise ProjectError(f"{key}: file {file} does not exist.")
        digest = hashlib.sha1(str(file).encode()).hexdigest()[:12]
        module_name = f"gengap_user_{file.stem}_{digest}"
        spec = importlib.util.spec_from_file_location(module_name, file)
        if spec is None or spec.loader is None:
            raise ProjectError(f"{key}: {file.name} cannot be imported as Python.")
        module = importlib.util.module_from_spec(spec)
        sys.path.insert(0, str(file.parent))
        try:
            spec.loader.exec_module(module)
        except Exception as error:  # noqa: BLE001 - the user's code failed
            raise ProjectError(
                f"{key}: importing {file.name} raised {type(error).__name__}: {error}"
            ) from None
        finally:
            sys.path.remove(str(file.parent))
    else:
        try:
            module = importlib.import_module(module_part)
        except Exception as error:  # noqa: BLE001
            raise ProjectError(
                f"{key}: module {module_part!r} cannot be imported ({type(error).__name__}: "
                f"{error})."
            ) from None
    target = getattr(module, attribute, None)
    if not callable(target):
        raise ProjectError(f"{key}: {module_part} has no callable named {attribute!r}.")
    if not module_part.endswith(".py"):
        defined_in = getattr(target, "__module__", None) or ""
        if not module_is_allowed(defined_in):
            raise ProjectError(
                f"{key}: {module_part}:{attribute} is defined in {defined_in or 'no module'}, "
                "which is not on the server's allow-list."
            )
    return target
