"""Which multiplier a multiplier gene means, and figures relative to the exact multiplier.

``MultiplierChoice`` is the one resolver of multiplier genes: gene ``g`` is ``allowed[g]``
and gene ``None`` (the classifier head, or any layer without a gene) is ``exact``.

Relative figures have one definition: a multiplier's power is measured against the exact
multiplier of the same signedness in the multiplier's own library (``reference_exact``;
``MultiplierLibrary.exact`` when its signedness matches). A multiplier without a library
(``library == ""``, or an object that is not a ``Multiplier``, e.g. a test double with the
figure attributes) is measured against the exact multiplier of the bundled EvoApproxLib
library of its signedness: ``mul8u_1JFF`` (evoapproxlib8u) or ``mul8s_1KV8`` (evoapproxlib8s).

Operand widths: a library may mix 8xN multipliers (``evoapproxlib8xNu``: 8x2 .. 8x7 and the
exact 8x8). It has ONE reference exact multiplier, the exact one of the widest weight (the exact
8x8 where there is one), and every multiplier's relative power is measured against it, whatever
its own width: an exact 8x4 (0.137 mW) is 0.35 of the exact 8x8 (0.391 mW), not 1.0. The exact
multiplier of a narrower width is not a reference; it is an ordinary cheap multiplier.
"""

from __future__ import annotations

import numbers
import os
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from evoapproxnas.errors import UserError
from evoapproxnas.multipliers.library import (
    DEFAULT_LIBRARY,
    MultiplierLibrary,
    load_library,
    widest_exact,
)
from evoapproxnas.multipliers.model import Multiplier

FALLBACK_LIBRARIES = {False: "evoapproxlib8u", True: "evoapproxlib8s"}
"""Bundled libraries whose exact multipliers are the reference of library-less multipliers."""

RELATIVE_FIGURES = ("power_mw", "area_um2")
"""Figures tried in order by ``relative_power``: power, then area, else 1.0 (exact)."""

LibraryLike = MultiplierLibrary | str | os.PathLike

_REFERENCES: dict[int, tuple[weakref.ref, Multiplier]] = {}
"""``reference_exact`` per live ``Multiplier`` object (id -> (weak reference, exact))."""
_FALLBACKS: dict[bool, Multiplier] = {}


def _library(library: LibraryLike) -> MultiplierLibrary:
    return library if isinstance(library, MultiplierLibrary) else load_library(library)


def library_exact(library: LibraryLike, signed: bool | None = None) -> Multiplier:
    """The exact multiplier of ``library`` (bundled name, folder path or loaded library).

    With ``signed``, the exact multiplier of that signedness: the library's ``exact`` entry when
    it matches, else the first exact multiplier of that signedness with the widest weight (the
    exact 8x8 where there is one). Raises ``UserError`` when there is none.
    """
    lib = _library(library)
    exact = lib.exact
    if signed is None or exact.signed == bool(signed):
        return exact
    found = widest_exact(m for m in lib if m.signed == bool(signed))
    if found is not None:
        return found
    kind = "signed" if signed else "unsigned"
    raise UserError(
        f"library {lib.identifier} has no exact {kind} multiplier (its exact one, "
        f"{exact.name}, is {'signed' if exact.signed else 'unsigned'}); add one whose table is "
        f"the exact {kind} product: relative power and area are measured against it"
    )


def fallback_exact(signed: bool = False) -> Multiplier:
    """The exact multiplier of the bundled EvoApproxLib library of that signedness: the
    reference of multipliers without a library (``FALLBACK_LIBRARIES``)."""
    signed = bool(signed)
    if signed not in _FALLBACKS:
        _FALLBACKS[signed] = library_exact(FALLBACK_LIBRARIES[signed], signed)
    return _FALLBACKS[signed]


def reference_exact(multiplier: Any) -> Multiplier | None:
    """The exact multiplier that ``multiplier``'s relative figures are measured against.

    ``None`` for ``None`` (the exact multiplier itself); the exact multiplier of the same
    signedness in the multiplier's own library; for a multiplier without a library, the exact
    multiplier of the bundled EvoApproxLib library of its signedness (``FALLBACK_LIBRARIES``).
    """
    if multiplier is None:
        return None
    signed = bool(getattr(multiplier, "signed", False))
    if not (isinstance(multiplier, Multiplier) and multiplier.library):
        return fallback_exact(signed)
    # loading the library again costs file-system calls; a Multiplier object belongs to one
    # loaded snapshot of its library, so its reference is looked up once
    key = id(multiplier)
    cached = _REFERENCES.get(key)
    if cached is not None and cached[0]() is multiplier:
        return cached[1]
    exact = library_exact(multiplier.library, signed)
    _REFERENCES[key] = (weakref.ref(multiplier, lambda _, k=key: _REFERENCES.pop(k, None)),
                        exact)
    return exact


def relative_power(multiplier: Any, exact: Any = None) -> float:
    """Power of ``multiplier`` over the power of ``exact`` (default ``reference_exact``).

    ``None`` is exact (1.0). Where a power figure is missing on either side, the area ratio is
    used; where that is missing too, 1.0 (the multiplier counts as exact).
    """
    if multiplier is None:
        return 1.0
    reference = exact if exact is not None else reference_exact(multiplier)
    for figure in RELATIVE_FIGURES:
        own, base = getattr(multiplier, figure, None), getattr(reference, figure, None)
        if own is not None and base:
            return float(own) / float(base)
    return 1.0


def _gene_text(genes: list[int]) -> str:
    if not genes:
        return "no gene"
    if genes == list(range(len(genes))):
        return f"genes 0..{len(genes) - 1}" if len(genes) > 1 else "gene 0"
    return "genes " + ", ".join(str(g) for g in genes)


@dataclass(frozen=True)
class MultiplierChoice:
    """The multipliers that multiplier genes select: ``allowed[gene]``, gene ``None`` ->
    ``exact``.

    ``allowed`` may hold ``None`` for a gene that has no multiplier (a sparse mapping given to
    ``coerce``); resolving such a gene is a ``UserError``. Build it with ``from_library`` (a
    campaign's allowed list) or ``coerce`` (whatever a caller passed: a list, a dict keyed by
    gene, a library or a choice).
    """

    allowed: tuple[Any, ...]
    exact: Any

    def __post_init__(self) -> None:
        object.__setattr__(self, "allowed", tuple(self.allowed))
        if self.exact is None:
            raise ValueError("MultiplierChoice needs the exact multiplier that gene None means")

    @classmethod
    def from_library(cls, library: LibraryLike = DEFAULT_LIBRARY,
                     names: Iterable[str] | None = None) -> MultiplierChoice:
        """The multipliers ``names`` of ``library`` in that order (``None``, ``[]`` or
        ``["all"]``: the whole library) and its exact multiplier of their signedness.

        Unknown and repeated names are a ``UserError``.
        """
        lib = _library(library)
        names = [] if names is None else list(names)
        if not names or names == ["all"]:
            allowed = tuple(lib)
        else:
            repeated = sorted({n for n in names if names.count(n) > 1})
            if repeated:
                raise UserError(
                    f"multiplier {repeated[0]!r} is allowed twice; name each multiplier once"
                )
            allowed = tuple(lib[name] for name in names)
        return cls(allowed, library_exact(lib, _signedness(allowed)))

    @classmethod
    def coerce(cls, multipliers: Any = (), *, library: LibraryLike | None = None,
               exact: Any = None) -> MultiplierChoice:
        """A choice from ``multipliers``: a ``MultiplierChoice``, a ``MultiplierLibrary`` (all
        of it, in order), a sequence (gene = index) or a mapping ``{gene: multiplier}``.

        The exact multiplier is ``exact`` when given, else that of ``library`` when given,
        else that of a given library or choice, else ``reference_exact`` of the first
        multiplier, else that of the default library.
        """
        if isinstance(multipliers, MultiplierChoice):
            if exact is None and library is None:
                return multipliers
            allowed = multipliers.allowed
        elif isinstance(multipliers, MultiplierLibrary):
            allowed = tuple(multipliers)
            library = multipliers if library is None else library
        elif isinstance(multipliers, Mapping):
            allowed = _from_mapping(multipliers)
        elif isinstance(multipliers, (str, bytes)) or not isinstance(multipliers, Iterable):
            raise TypeError(
                "multipliers must be a list or dict of multipliers, a library or a "
                f"MultiplierChoice, got {type(multipliers).__name__}"
            )
        else:
            allowed = tuple(multipliers)
        if exact is None:
            given = [m for m in allowed if m is not None]
            if library is not None:
                exact = library_exact(library, _signedness(given))
            elif isinstance(multipliers, MultiplierChoice):
                exact = multipliers.exact
            elif given:
                exact = reference_exact(given[0])
            else:
                exact = library_exact(DEFAULT_LIBRARY)
        return cls(allowed, exact)

    def __len__(self) -> int:
        return len(self.allowed)

    @property
    def genes(self) -> list[int]:
        """The genes that select a multiplier."""
        return [g for g, m in enumerate(self.allowed) if m is not None]

    def resolve(self, gene: int | None) -> Any:
        """The multiplier of ``gene``: ``allowed[gene]``, or ``exact`` for ``None``."""
        if gene is None:
            return self.exact
        if isinstance(gene, numbers.Integral) and not isinstance(gene, bool):
            index = int(gene)
            if 0 <= index < len(self.allowed) and self.allowed[index] is not None:
                return self.allowed[index]
        raise UserError(
            f"no multiplier for gene {gene!r}: multipliers are given for "
            f"{_gene_text(self.genes)}; give one per multiplier gene of the CGP spec "
            "(n_multipliers)"
        )

    def name(self, gene: int | None) -> str:
        """The name of the multiplier of ``gene``."""
        return str(self.resolve(gene).name)

    def relative_power(self, gene: int | None) -> float:
        """``relative_power`` of the multiplier of ``gene`` against ``exact``."""
        return relative_power(self.resolve(gene), self.exact)


def _signedness(multipliers: Iterable[Any]) -> bool | None:
    kinds = {bool(getattr(m, "signed", False)) for m in multipliers}
    return kinds.pop() if len(kinds) == 1 else None


def _from_mapping(mapping: Mapping) -> tuple[Any, ...]:
    genes = list(mapping)
    for gene in genes:
        if isinstance(gene, bool) or not isinstance(gene, numbers.Integral) or gene < 0:
            raise TypeError(f"multiplier genes must be integers >= 0, got {gene!r}")
    size = max((int(g) for g in genes), default=-1) + 1
    return tuple(mapping.get(g) for g in range(size))
