"""The result tables of astroquery_ext, and how they are written to FITS, VOTable and ECSV.

Every table the modules return is a `ResultTable`: a `~astropy.table.Table`
whose ``write`` converts, for the format asked, what that format cannot hold
(see :doc:`/results`). ``ResultTable.read`` reads such files back into the
same types; `prepare_table` is the conversion alone, for a plain Table.
"""

from astroquery_ext._base.result import PROVENANCE_KEYS, ResultMeta, ResultTable, calls  # noqa: F401
from astroquery_ext._base.serialize import META_CARD, prepare_table, restore_table  # noqa: F401

__all__ = ["ResultTable", "ResultMeta", "calls", "prepare_table", "restore_table", "META_CARD", "PROVENANCE_KEYS"]
