"""The columns of the Glance result tables.

Glance records are deeply nested. A table row flattens one record:

- scalars become typed columns named by the dot-path the query language uses
  (``status``, ``phase0.state``, ``groups.leadingGroup.name``), so a column
  name is also a field to query on;
- dates become `~astropy.time.Time` columns (UTC; plain dates at 00:00),
  masked where absent;
- statuses and states stay the display labels the server sends
  (``"Phase 0 Active"``);
- lists of ``{"name": ...}`` become object columns of lists of names, named by
  the path of the name (``metadata.keywords.name``);
- people and other lists of objects (``analysisTeam``, ``metadata.collisions``)
  are object columns of lists of dicts, as sent;
- ``web_url`` links to the record's page on the Glance web site;
- ``record`` holds the whole record as the server sent it (a dict), so
  nothing is lost; it follows the rows when the table is sorted or sliced.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Callable

from astroquery_ext._base import Field, parse_time

__all__ = ["FIELDS", "ANALYSIS_FIELDS", "PAPER_FIELDS", "CONFNOTE_FIELDS", "PUBNOTE_FIELDS", "PLOT_FIELDS",
           "PUBLICATION_FIELDS", "LEADINGGROUP_FIELDS", "SUBGROUP_FIELDS", "TRIGGER_FIELDS"]


def _names_of(key: str) -> Callable[[Any], list]:
    """A list of dicts to the ``key`` of each (absent list: empty)."""
    def convert(items: Any) -> list:
        if type(items) is not list:
            return []
        return [item[key] for item in items if type(item) is dict and item.get(key) is not None]
    return convert


def _list_or_empty(items: Any) -> list:
    """The list as sent (absent or null: empty)."""
    return items if type(items) is list else []


def _date_value(value: Any) -> Any:
    """A date or datetime; the ``{"date": ..., "time": ...}`` form is joined; unreadable: masked."""
    if value is None or value == "":
        return None
    if isinstance(value, Mapping):
        day, clock = value.get("date"), value.get("time")
        value = f"{day}T{clock}" if day and clock else day
    if value is None or value == "":
        return None
    try:
        parse_time(value)
    except (TypeError, ValueError):
        return None  # kept in the record column; one odd date must not fail a search
    return value


# Each column reads its dot-path from the record (the engine reads the shared prefixes once per page).

def _s(name: str, description: str | None = None) -> Field:
    return Field(name, "str", description=description)


def _t(name: str, description: str | None = None) -> Field:
    return Field(name, "time", description=description, convert=_date_value)


def _n(name: str, description: str | None = None) -> Field:
    """A list of names: ``metadata.keywords.name`` from ``metadata.keywords``."""
    path, _, key = name.rpartition(".")
    return Field(name, "object", source=path, description=description, convert=_names_of(key))


def _o(name: str, description: str | None = None) -> Field:
    return Field(name, "object", description=description, convert=_list_or_empty)


_WEB = Field("web_url", "str", description="The record's page on the Glance web site")
_RECORD = Field("record", "object", source=lambda r: r, description="The whole record, as the server sent it")

_GROUPS = [
    _s("groups.leadingGroup.name", "Leading group"),
    _s("groups.leadingSubgroup.name", "Leading subgroup"),
    _n("groups.subgroups.name", "Subgroups"),
    _n("groups.otherGroups.name", "Other groups"),
]
_METADATA = [
    _n("metadata.keywords.name", "Keywords"),
    _o("metadata.collisions", "Collision data used: type, year, run, ecmValue/ecmUnit, luminosityValue/Unit"),
    _n("metadata.statisticalTools.name", "Statistical tools"),
    _n("metadata.mvaMlTools.name", "MVA / ML tools"),
]
_TEAM = [_o("analysisTeam", "The analysis team: cernCcid, firstName, lastName, email and role flags")]

#: Columns of `~astroquery_ext.glance.GlanceClass.query_analyses`.
ANALYSIS_FIELDS = [
    _s("referenceCode", "Reference code (ANA-GROUP-YYYY-NN)"),
    _s("status", "Status (display label)"),
    _s("shortTitle"),
    _s("publicShortTitle"),
    _t("creationDate"),
    *_GROUPS,
    _s("phase0.state", "Phase 0 state (display label)"),
    _t("phase0.startDate"),
    _t("phase0.editorialBoardFormedDate"),
    _t("phase0.pgcOrSgcSignOffDate"),
    _s("phase0.mainPhysicsAim"),
    _s("phase0.datasetUsed"),
    _s("phase0.modelTested"),
    _s("phase0.methods"),
    *_METADATA,
    _n("metadata.triggers.name", "Triggers used"),
    _n("metadata.datasets.name", "Datasets used"),
    _s("metadata.analysisFramework.ntupling"),
    _s("metadata.analysisFramework.histogramming"),
    _n("relatedPublications.referenceCode", "Reference codes of the related papers and notes"),
    *_TEAM,
    _o("phase0.editorialBoard", "Editorial board: people with isChair / isExOfficio"),
    _WEB,
    _RECORD,
]

#: Columns of `~astroquery_ext.glance.GlanceClass.query_papers`.
PAPER_FIELDS = [
    _s("referenceCode", "Reference code (GROUP-YYYY-NN)"),
    _s("status", "Status (display label)"),
    _s("shortTitle"),
    _s("publicShortTitle"),
    _s("fullTitle"),
    *_GROUPS,
    _s("relatedAnalysis.referenceCode", "The analysis this paper comes from"),
    _s("phase1.state", "Phase 1 state (display label)"),
    _t("phase1.startDate"),
    _t("phase1.pgcApprovalDate"),
    _t("phase1.draftReleasedDate"),
    _s("phase2.state", "Phase 2 state (display label)"),
    _t("phase2.startDate"),
    _t("phase2.paperClosureDate"),
    _s("publicationPhase.state", "Publication phase state (display label)"),
    _t("publicationPhase.startDate"),
    _t("publicationPhase.arXivSubmissionDate"),
    _t("publicationPhase.journalAcceptanceDate"),
    _t("publicationPhase.publishedOnlineDate"),
    _s("publicationPhase.finalSubmissionJournal"),
    _s("publicationPhase.finalTitleTex"),
    _n("publicationPhase.arXivUrls.url", "arXiv links"),
    _n("publicationPhase.finalJournalPublicationUrls.url", "Journal links"),
    _s("rivetRoutinesUrl"),
    *_METADATA,
    *_TEAM,
    _o("phase1.editorialBoard", "Editorial board: people with isChair / isExOfficio"),
    _WEB,
    _RECORD,
]

_NOTE_HEAD = [
    _s("temporaryReferenceCode", "Temporary reference code"),
    _s("finalReferenceCode", "Final reference code, once the note is released"),
    _s("status", "Status (display label)"),
    _s("shortTitle"),
    _s("publicShortTitle"),
    _s("fullTitle"),
    *_GROUPS,
    _s("relatedAnalysis.referenceCode", "The analysis this note comes from"),
    _n("supersededBy.referenceCode", "Codes of what supersedes it"),
    _s("phase1.state", "Phase 1 state (display label)"),
    _t("phase1.startDate"),
    _t("phase1.presentationDate"),
    _t("phase1.releaseDate"),
    _s("phase1.draftCdsUrl"),
    _s("phase1.publicWebPageUrlForFiguresAndTables"),
]

#: Columns of `~astroquery_ext.glance.GlanceClass.query_confnotes`.
CONFNOTE_FIELDS = [
    *_NOTE_HEAD,
    _t("phase1.pgcApprovalDate"),
    _t("phase1.firstSignOffDate"),
    _t("phase1.secondSignOffDate"),
    *_METADATA,
    *_TEAM,
    _o("phase1.editorialBoard", "Editorial board: people with isChair / isExOfficio"),
    _WEB,
    _RECORD,
]

#: Columns of `~astroquery_ext.glance.GlanceClass.query_pubnotes`.
PUBNOTE_FIELDS = [
    *_NOTE_HEAD,
    _t("phase1.groupApprovalDate"),
    _t("phase1.atlasCirculationDate"),
    *_METADATA,
    *_TEAM,
    _o("phase1.readers", "Readers: people with isFirstReader / isSecondReader"),
    _WEB,
    _RECORD,
]

#: Columns of `~astroquery_ext.glance.GlanceClass.query_plots`.
PLOT_FIELDS = [
    _s("referenceCode", "Reference code (PLOT-GROUP-YYYY-NN)"),
    _s("status", "Status (display label)"),
    _s("shortTitle"),
    _s("fullTitle"),
    _s("groups.leadingGroup.name", "Leading group"),
    _n("groups.otherGroups.name", "Other groups"),
    _n("supersededBy.referenceCode", "Codes of what supersedes it"),
    _s("phase1.state", "Phase 1 state (display label)"),
    _t("phase1.startDate"),
    _s("phase1.groupCoordinatorSignOff"),
    _s("phase1.draftCdsUrl"),
    _s("phase1.finalCdsReport"),
    _o("metadata.collisions", "Collision data used"),
    *_TEAM,
    _WEB,
    _RECORD,
]

#: Columns of `~astroquery_ext.glance.GlanceClass.query_publications`.
PUBLICATION_FIELDS = [
    _s("type", "Analysis, Paper, CONF note or PUB note"),
    _s("referenceCode", "Reference code (analyses and papers)"),
    _s("temporaryReferenceCode", "Temporary reference code (notes)"),
    _s("finalReferenceCode", "Final reference code (released notes)"),
    _s("status", "Status (display label)"),
    _s("shortTitle"),
    _s("groups.leadingGroup.name", "Leading group"),
    _s("groups.leadingSubgroup.name", "Leading subgroup"),
    _n("groups.subgroups.name", "Subgroups"),
    _WEB,
    _RECORD,
]

#: Columns of `~astroquery_ext.glance.GlanceClass.query_leading_groups`.
LEADINGGROUP_FIELDS = [_s("name", "Leading group"), _RECORD]
#: Columns of `~astroquery_ext.glance.GlanceClass.query_subgroups`.
SUBGROUP_FIELDS = [_s("name", "Subgroup"), _RECORD]
#: Columns of `~astroquery_ext.glance.GlanceClass.query_triggers`.
TRIGGER_FIELDS = [_s("name", "Trigger chain"), _s("year", "Year (as the server writes it)"),
                  _s("category.name", "Category (primary, backup, L1...)"), _RECORD]

#: Field lists by query mode.
FIELDS = {
    "analysis": ANALYSIS_FIELDS, "paper": PAPER_FIELDS, "confnote": CONFNOTE_FIELDS, "pubnote": PUBNOTE_FIELDS,
    "plot": PLOT_FIELDS, "publication": PUBLICATION_FIELDS, "leadinggroup": LEADINGGROUP_FIELDS,
    "subgroup": SUBGROUP_FIELDS, "trigger": TRIGGER_FIELDS,
}
