# dflow's OP API (`dflow.python`) without dflow: the part an op's own code uses.
# Standard library only. The bootstrap serves this text as the module
# `dflow.python` from a finder placed *behind* the normal import system, so an
# image (or a local interpreter) that has pydflow installed uses the real one.
# Semantics follow pydflow's dflow/python/op.py and opio.py: the same names,
# signs, defaults, optional artifacts and `exec_sign_check` messages.
from __future__ import annotations

import abc
import functools
import inspect
import typing
from collections.abc import MutableMapping
from pathlib import Path

__all__ = [
    "OP",
    "OPIO",
    "Artifact",
    "BigParameter",
    "FatalError",
    "OPIOSign",
    "Parameter",
    "TransientError",
]


class TransientError(Exception):
    """A failure worth retrying (the step exits 1; the retry expression retries it)."""


class FatalError(Exception):
    """A failure not worth retrying (the step exits 2; the retry expression stops)."""


class _Box(MutableMapping):
    def __init__(self, *args: object, **kwargs: object) -> None:
        self._data: dict = dict(*args, **kwargs)

    def __getitem__(self, key: str) -> typing.Any:
        return self._data[key]

    def __setitem__(self, key: str, value: object) -> None:
        self._data[key] = value

    def __delitem__(self, key: str) -> None:
        del self._data[key]

    def __iter__(self) -> typing.Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return str(self._data)


class OPIO(_Box):
    """An OP's inputs or outputs: a mapping of names to values."""


class OPIOSign(_Box):
    """An OP's signature: a mapping of names to types, Artifact, Parameter or BigParameter."""


_ARTIFACT_TYPES = [
    str,
    Path,
    typing.Set[str],
    typing.Set[Path],
    typing.List[str],
    typing.List[Path],
    typing.Dict[str, str],
    typing.Dict[str, Path],
]


def _same_type(a: object, b: object) -> bool:
    if a == b:
        return True
    return typing.get_origin(a) is typing.get_origin(b) is not None and typing.get_args(a) == typing.get_args(
        b
    )


class Artifact:
    """A file or folder (``Path``) or several (``List[Path]``); ``optional`` may be missing."""

    def __init__(
        self,
        type: object,
        archive: str = "default",
        save: object = None,
        optional: bool = False,
        global_name: str | None = None,
        sub_path: bool = True,
        **kwargs: object,
    ) -> None:
        if not any(_same_type(type, t) for t in _ARTIFACT_TYPES):
            allowed = ", ".join(_type_name(t) for t in _ARTIFACT_TYPES)
            raise AssertionError(
                f"{_type_name(type)} is not allowed artifact type, only {allowed} are allowed."
            )
        self.type = type
        self.archive = archive
        self.save = save
        self.optional = optional
        self.global_name = global_name
        self.sub_path = sub_path
        for k, v in kwargs.items():
            setattr(self, k, v)

    def __repr__(self) -> str:
        return f"Artifact(type={_type_name(self.type)}, optional={self.optional}, sub_path={self.sub_path})"


class Parameter:
    """A value passed as text; ``default=`` makes it optional."""

    def __init__(self, type: object, global_name: typing.Any = None, **kwargs: typing.Any) -> None:
        self.type = type
        self.global_name = global_name
        for k, v in kwargs.items():
            setattr(self, k, v)

    def __repr__(self) -> str:
        default = f", default={self.default!r}" if hasattr(self, "default") else ""
        return f"{type(self).__name__}(type={_type_name(self.type)}{default})"


class BigParameter(Parameter):
    """A parameter dflow passes as a file; here it travels like any parameter."""

    def __init__(self, type: object, **kwargs: typing.Any) -> None:
        super().__init__(type, **kwargs)


def _type_name(t: object) -> str:
    if t is typing.Any:
        return "Any"
    if t is type(None):
        return "NoneType"
    if typing.get_origin(t) is not None:
        return str(t).replace("typing.", "")
    if isinstance(t, type):
        return t.__name__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"
    return str(t)


def _value_name(value: object) -> str:
    return _type_name(type(value))


def check_type(name: str, value: object, expected: object) -> None:
    """Raise ``TypeError`` (typeguard's wording, as pydflow vendors it) when ``value`` is not ``expected``."""
    if expected is typing.Any or expected is None or isinstance(expected, (str, typing.ForwardRef)):
        return
    origin = typing.get_origin(expected)
    args = typing.get_args(expected)
    if origin is typing.Union or type(expected).__name__ == "UnionType":
        for option in args:
            try:
                check_type(name, value, option)
                return
            except TypeError:
                pass
        names = ", ".join(_type_name(t) for t in args)
        raise TypeError(f"type of {name} must be one of ({names}); got {_value_name(value)} instead")
    if origin in (list, set, frozenset, tuple, dict) or expected in (list, set, tuple, dict):
        kind: typing.Any = origin or expected
        word = {list: "a list", set: "a set", frozenset: "a set", tuple: "a tuple", dict: "a dict"}[kind]
        if not isinstance(value, kind if kind is not frozenset else (set, frozenset)):
            raise TypeError(f"type of {name} must be {word}; got {_value_name(value)} instead")
        if not args:
            return
        if kind is dict:
            for k, v in value.items():  # type: ignore[union-attr]
                check_type(f"keys of {name}", k, args[0])
                check_type(f"{name}[{k!r}]", v, args[1])
        elif kind is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            for i, (v, t) in enumerate(zip(value, args)):  # type: ignore[call-overload]
                check_type(f"{name}[{i}]", v, t)
        else:
            for i, v in enumerate(value):  # type: ignore[call-overload]
                check_type(f"{name}[{i}]" if kind is not set else f"elements of {name}", v, args[0])
        return
    if origin is not None:
        expected = origin
    if isinstance(expected, type):
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            return
        if not isinstance(value, expected):
            raise TypeError(
                f"type of {name} must be {_type_name(expected)}; got {_value_name(value)} instead"
            )


_LIST_LIKE: typing.Dict[typing.Any, typing.Any] = {
    typing.List[str]: typing.List[typing.Optional[str]],
    typing.List[Path]: typing.List[typing.Optional[Path]],
    typing.Set[str]: typing.Set[typing.Optional[str]],
    typing.Set[Path]: typing.Set[typing.Optional[Path]],
    typing.Dict[str, str]: typing.Dict[str, typing.Optional[str]],
    typing.Dict[str, Path]: typing.Dict[str, typing.Optional[Path]],
}


class OP(abc.ABC):
    """A dflow OP: signs say the inputs and outputs, ``execute`` maps one to the other."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        pass

    @classmethod
    @abc.abstractmethod
    def get_input_sign(cls) -> OPIOSign:
        """The signature of the inputs."""

    @classmethod
    @abc.abstractmethod
    def get_output_sign(cls) -> OPIOSign:
        """The signature of the outputs."""

    @abc.abstractmethod
    def execute(self, op_in: OPIO) -> OPIO:
        """Run the OP."""
        raise NotImplementedError

    @staticmethod
    def exec_sign_check(func: typing.Callable) -> typing.Callable:
        @functools.wraps(func)
        def wrapper_exec(self: OP, op_in: OPIO) -> OPIO:
            OP._check_signature(op_in, self.get_input_sign(), True)
            op_out = func(self, op_in)
            OP._check_signature(op_out, self.get_output_sign(), False)
            return op_out

        return wrapper_exec

    @staticmethod
    def _check_signature(opio: typing.Any, sign: typing.Any, is_input: bool) -> None:
        side, verb = ("input", "passed to") if is_input else ("output", "given by")
        if not isinstance(opio, MutableMapping):
            raise TypeError(f"the {side} {verb} the OP must be an OPIO (a mapping), not {_value_name(opio)}")
        for key in sign.keys():
            if key not in opio.keys():
                decl = sign[key]
                if isinstance(decl, Parameter) and hasattr(decl, "default"):
                    opio[key] = decl.default
                elif isinstance(decl, Artifact) and decl.optional:
                    opio[key] = None
                else:
                    raise RuntimeError(
                        f"key {key} declared in the {side} sign is not present in the {side} {verb} the OP"
                    )
        for key in opio.keys():
            if key not in sign.keys():
                raise RuntimeError(
                    f"key {key} in the {side} {verb} the OP is not declared in its {side} sign"
                )
            expected = sign[key]
            if isinstance(expected, Artifact):
                expected = _LIST_LIKE.get(expected.type)
                if expected is None:
                    continue
            if isinstance(expected, Parameter):
                expected = expected.type
            if opio[key] is not None:
                check_type(key, opio[key], expected)

    @classmethod
    def function(cls, func: typing.Callable | None = None, **kwargs: typing.Any) -> typing.Any:
        """A plain function as an OP: signs from its annotations and defaults."""
        if func is None:
            return functools.partial(cls.function, **kwargs)
        fn: typing.Callable = func
        input_sign, output_sign, to_opio = _signs_of(fn)

        class FunctionOP(cls):  # type: ignore[valid-type, misc]
            @classmethod
            def get_input_sign(cls) -> OPIOSign:
                return OPIOSign(input_sign)

            @classmethod
            def get_output_sign(cls) -> OPIOSign:
                return OPIOSign(output_sign)

            @OP.exec_sign_check
            def execute(self, op_in: OPIO) -> OPIO:
                return to_opio(fn(**op_in))

            def __call__(self, *args: object, **op_in: object) -> OPIO:
                names = list(self.get_input_sign())
                for i, v in enumerate(args):
                    if names[i] in op_in:
                        raise TypeError(f"{fn.__name__}() got multiple values for argument '{names[i]}'")
                    op_in[names[i]] = v
                return self.execute(OPIO(op_in))

        FunctionOP.func = fn  # type: ignore[attr-defined]
        FunctionOP.__name__ = FunctionOP.__qualname__ = fn.__name__
        FunctionOP.__module__ = fn.__module__
        return FunctionOP()


def _signs_of(func: typing.Callable) -> tuple[dict, dict, typing.Callable]:
    try:
        hints = typing.get_type_hints(func)
    except Exception:
        hints = dict(getattr(func, "__annotations__", {}))
    inputs: dict = {}
    for p in inspect.signature(func).parameters.values():
        t = hints.get(p.name, typing.Any)
        if p.default is not inspect.Parameter.empty:
            if isinstance(t, Artifact):
                if p.default is None:
                    t.optional = True
            elif isinstance(t, Parameter):
                setattr(t, "default", p.default)  # noqa: B010
            else:
                t = Parameter(t, default=p.default)
        inputs[p.name] = t
    ret = hints.get("return")
    if isinstance(ret, dict):
        return inputs, dict(ret), lambda x: x
    if isinstance(ret, type) and issubclass(ret, dict) and hasattr(ret, "__annotations__"):
        return inputs, dict(ret.__annotations__), lambda x: x
    if isinstance(ret, type) and issubclass(ret, tuple) and hasattr(ret, "__annotations__"):
        names = list(ret.__annotations__)
        return inputs, dict(ret.__annotations__), lambda x: dict(zip(names, x))
    if ret is None or ret is type(None):
        return inputs, {}, lambda x: {}
    return inputs, {"dflow_output": ret}, lambda x: {"dflow_output": x}
