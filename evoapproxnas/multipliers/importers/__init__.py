"""Importers that turn outside multiplier descriptions into library folders.

TFApprox ``.bin`` tables, EvoApproxLib-style C models (compiled with the system C compiler),
Verilog netlists (through yosys) and circuits generated with ariths-gen. Each reader returns an
:class:`ImportedCircuit`; :func:`import_library` writes a whole library atomically.
"""

from evoapproxnas.multipliers.importers.build import (
    FORMATS,
    import_library,
    read_circuits,
)
from evoapproxnas.multipliers.importers.c_model import read_c_model
from evoapproxnas.multipliers.importers.common import ImportedCircuit
from evoapproxnas.multipliers.importers.metadata import read_metadata_csv
from evoapproxnas.multipliers.importers.tfapprox import (
    export_tfapprox_bin,
    read_tfapprox_bin,
    table_to_bin_bytes,
)
from evoapproxnas.multipliers.importers.verilog import read_verilog

__all__ = [
    "FORMATS",
    "ImportedCircuit",
    "export_tfapprox_bin",
    "import_library",
    "read_c_model",
    "read_circuits",
    "read_metadata_csv",
    "read_tfapprox_bin",
    "read_verilog",
    "table_to_bin_bytes",
]
