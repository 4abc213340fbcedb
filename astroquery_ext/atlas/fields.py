"""The columns of every ATLAS result table.

Each endpoint's table has a fixed list of `~astroquery_ext._base.Field`
columns, so its columns and dtypes are the same whether it has one row or
none. Names follow the server's keys, except that every
table names the ATLAS object id ``atlas_id``.

The big parts of ``objects/`` answers (``lc``, ``lcnondets``, ``fp``:
hundreds of rows per object, hundreds of thousands per call) are decoded by
the base's typed decoder (`~astroquery_ext._base.tables.RecordSchema`) from
these same lists, batch by batch while the answer arrives.
"""

from __future__ import annotations

from astroquery_ext._base import Field

__all__ = ["CONE_FIELDS", "COUNT_FIELDS", "OBJECT_FIELDS", "LC_FIELDS", "LCNONDETS_FIELDS", "FP_FIELDS",
           "SHERLOCK_XM_FIELDS", "SHERLOCK_CLASS_FIELDS", "EXTERNAL_XM_FIELDS", "LIST_FIELDS",
           "GROUP_FIELDS", "VRA_SCORE_FIELDS", "VRA_TODO_FIELDS", "VRA_RANK_FIELDS", "OUTCOME_FIELDS",
           "PART_FIELDS", "BULK_PARTS", "ATLAS_ID"]


def _fields(spec: str, dtype: str, unit: str | None = None) -> list[Field]:
    return [Field(name, dtype, unit=unit) for name in spec.split()]


ATLAS_ID = Field("atlas_id", "int64", description="ATLAS object id (19 digits)")

CONE_FIELDS = [
    Field("atlas_id", "int64", source="object", description="ATLAS object id"),
    Field("separation", "float64", unit="arcsec", description="distance from the position"),
    Field("name", "str", source="objectname", description="ATLAS designation (masked until named)"),
]
COUNT_FIELDS = [Field("count", "int64", description="objects inside the radius")]

OBJECT_FIELDS = [
    Field("atlas_id", "int64", source="id", description="ATLAS object id"),
    Field("atlas_designation", "str", description="ATLAS name, e.g. ATLAS20bbfr"),
    Field("other_designation", "str", description="TNS name without prefix, e.g. 2020tjh"),
    Field("ra", "float64", unit="deg"), Field("dec", "float64", unit="deg"),
    Field("detection_list_id", "int64", description="main list (0..13)"),
    Field("sherlockClassification", "str"),
    Field("observation_status", "str", description="spectroscopic type"),
    Field("vra", "float64", source=lambda r: r.get("vra", r.get("realbogus_factor")),
          description="VRA score (realbogus_factor in the old schema)"),
    Field("rb_pix", "float64", description="pixel real/bogus score, 0..1"),
    Field("current_trend", "str"),
    Field("followup_id", "int64", description="promotion sequence number"),
    Field("followup_flag_date", "time"),
    Field("date_inserted", "time"), Field("date_modified", "time"),
    *_fields("detection_id object_classification htm16id jtindex images_id processing_flags "
             "followup_priority followup_counter ndetections", "int64"),
    *_fields("updated_by external_reference_id survey_field local_comments", "str"),
]

_LC_SCORES = "pvr ptr pmv pkn pno pbn pcr pxt psc"
LC_FIELDS = [
    Field("mjd", "float64", description="MJD of the exposure"),
    Field("filter", "str", description="ATLAS filter: c (cyan) or o (orange)"),
    Field("mag", "float64", unit="mag", description="AB magnitude; negative marks a negative-flux detection"),
    Field("magerr", "float64", unit="mag"),
    Field("mag5sig", "float64", unit="mag", description="5-sigma limit of the exposure"),
    Field("det", "int64"), Field("dup", "int64", description="-1 marks a duplicate"),
    Field("zp", "float64", unit="mag"), Field("exptime", "float64", unit="s"),
    Field("expname", "str"), Field("atlas_metadata_id", "int64", description="exposure id"),
    Field("pointing", "str"),
    Field("ra", "float64", unit="deg"), Field("dec", "float64", unit="deg"),
    *_fields("x y major minor", "float64", "pix"), Field("phi", "float64", unit="deg"),
    Field("chin", "float64"), *_fields(_LC_SCORES, "int64"),
    *_fields("wpflx dflx", "float64"),
    Field("date_inserted", "time"),
]
LCNONDETS_FIELDS = [
    Field("mjd", "float64"), Field("filter", "str"),
    Field("mag5sig", "float64", unit="mag", description="5-sigma limit (the upper limit)"),
    Field("zp", "float64", unit="mag"), Field("exptime", "float64", unit="s"),
    Field("expname", "str"), Field("exposure_id", "int64", source="id", description="exposure id"),
    Field("pointing", "str"), Field("filename", "str"), Field("input", "str"), Field("reference", "str"),
    Field("date_inserted", "time"),
]
FP_FIELDS = [
    Field("mjd_obs", "float64", description="MJD of the exposure"),
    Field("filter", "str"),
    Field("uJy", "float64", unit="uJy", description="forced flux density"),
    Field("duJy", "float64", unit="uJy", description="its uncertainty"),
    Field("mag", "float64", unit="mag"), Field("dm", "float64", unit="mag"),
    Field("snr", "float64"), Field("zp", "float64", unit="mag"), Field("expname", "str"),
    Field("ra", "float64", unit="deg"), Field("dec", "float64", unit="deg"),
    *_fields("x y", "float64", "pix"),
    *_fields("peakval skyval peakfit dpeak skyfit flux dflux chin", "float64"),
    *_fields("major minor", "float64", "pix"),
    *_fields("snrdet snrlimit apfit", "float64"), Field("texp", "float64", unit="s"),
    Field("limiting_mag", "bool"), Field("redo_photometry", "bool"),
    Field("fp_id", "int64", source="id", description="forced-photometry row id"),
    Field("date_inserted", "time"),
]

_SHERLOCK_FLOATS = (
    "separationarcsec northseparationarcsec eastseparationarcsec z scale distance distance_modulus "
    "photoz photozerr physical_separation_kpc rankscore major_axis_arcsec direct_distance "
    "direct_distance_scale direct_distance_modulus radeg decdeg original_search_radius_arcsec "
    "u uerr b berr v verr r rerr i ierr j jerr h herr k kerr field_u field_uerr field_g field_gerr "
    "field_r field_rerr field_i field_ierr field_z field_zerr field_y field_yerr g gerr unkmag unkmagerr "
    "transientabsmag")
SHERLOCK_XM_FIELDS = [
    Field("catalogue_object_id", "str"), Field("catalogue_table_name", "str"),
    Field("catalogue_object_type", "str"), Field("association_type", "str"),
    Field("rank", "int64"), Field("id", "int64"),
    *_fields(_SHERLOCK_FLOATS, "float64"),
    *_fields("catalogue_table_id catalogue_view_id association_rank updated classificationreliability",
             "int64"),
    *_fields("catalogue_object_subtype catalogue_view_name search_name", "str"),
    Field("datecreated", "time"), Field("datelastmodified", "time"),
]
SHERLOCK_CLASS_FIELDS = [
    Field("classification", "str"), Field("summary", "str"), Field("annotation", "str"),
    Field("matchverified", "str"), Field("developmentcomment", "str"), Field("updated", "str"),
    Field("datecreated", "time"), Field("datelastmodified", "time"),
]
EXTERNAL_XM_FIELDS = [
    Field("external_designation", "str"), Field("matched_list", "str"), Field("type", "str"),
    Field("separation", "float64", unit="arcsec"), Field("mag", "float64", unit="mag"),
    Field("discoverer", "str"), Field("host_galaxy", "str"), Field("other_info", "str"),
    Field("comments", "str"), Field("url", "str"), Field("host_z", "float64"), Field("object_z", "float64"),
    Field("disc_date", "time"), Field("disc_filter", "str"), Field("id", "int64"),
]

#: The parts of an ``objects/`` record with many rows per object (decoded typed, as columns).
BULK_PARTS = ("lc", "lcnondets", "fp")

#: Columns of each part of an ``objects/`` record (``atlas_id`` is put first by the builder).
PART_FIELDS = {
    "object": OBJECT_FIELDS, "lc": LC_FIELDS, "lcnondets": LCNONDETS_FIELDS, "fp": FP_FIELDS,
    "sherlock_crossmatches": SHERLOCK_XM_FIELDS, "sherlock_classifications": SHERLOCK_CLASS_FIELDS,
    "tns_crossmatches": EXTERNAL_XM_FIELDS, "external_crossmatches": EXTERNAL_XM_FIELDS,
}

LIST_FIELDS = [
    Field("atlas_id", "int64", source="id"), Field("rank", "int64", description="followup_id"),
    Field("atlas_designation", "str"), Field("other_designation", "str"),
    Field("ra", "float64", unit="deg"), Field("dec", "float64", unit="deg"),
    Field("ra_avg", "float64", unit="deg"), Field("dec_avg", "float64", unit="deg"),
    Field("detection_list_id", "int64"), Field("object_group_id", "int64", description="custom lists only"),
    Field("sherlockClassification", "str"), Field("observation_status", "str"),
    Field("vra", "float64"), Field("rb_pix", "float64"), Field("current_trend", "str"),
    Field("object_classification", "int64"),
    Field("earliest_mjd", "float64"), Field("earliest_mag", "float64", unit="mag"),
    Field("earliest_filter", "str"), Field("latest_mjd", "float64"),
    Field("latest_mag", "float64", unit="mag"), Field("latest_filter", "str"),
    Field("catalogue", "str"), Field("catalogue_object_id", "str"),
    Field("separation", "float64", unit="arcsec"), Field("external_crossmatches", "str"),
    Field("rms", "float64"), Field("discovery_target", "str"), Field("local_comments", "str"),
    Field("images_id", "int64"), Field("followup_flag_date", "time"), Field("date_modified", "time"),
]
GROUP_FIELDS = [
    Field("atlas_id", "int64", source="transient_object_id"),
    Field("list_id", "int64", source="object_group_id", description="custom list id"),
    Field("row_id", "int64", source="id"),
]
VRA_SCORE_FIELDS = [
    Field("atlas_id", "int64", source="transient_object_id"),
    *_fields("preal pgal pfast rank rank_alt1", "float64"), Field("is_gal_cand", "int64"),
    Field("timestamp", "time"), Field("apiusername", "str"), Field("username", "str"),
    Field("debug", "bool"), Field("row_id", "int64", source="id"),
]
VRA_TODO_FIELDS = [Field("atlas_id", "int64", source="transient_object_id"), Field("timestamp", "time")]
VRA_RANK_FIELDS = [
    Field("atlas_id", "int64", source="transient_object_id"), Field("rank", "float64"),
    Field("rank_alt1", "float64"), Field("is_gal_cand", "int64"), Field("timestamp", "time"),
]
OUTCOME_FIELDS = [
    Field("atlas_id", "int64"),
    Field("sent", "bool", description="the request reached the server (False: not sent, quota used up)"),
    Field("ok", "bool", description="the object is now in the state asked for"),
    Field("status", "int64", description="HTTP status of the call"),
    Field("info", "str", description="the server's own words"),
]
