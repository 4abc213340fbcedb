"""Deterministic sample data for the ATLAS sandbox (private to :mod:`.atlas`).

Everything here is synthetic and reproducible from the seed: the same
``(seed, n_objects, lc_length, mjd_end)`` always gives the same objects, ids,
light curves and crossmatches. Object records and the epoch schedule of every
light curve are built eagerly (cheap numpy work); the JSON text of the light
curve rows (``lc``, ``lcnondets``, ``fp``) is formatted lazily, per object, the
first time it is asked for, and kept in a bounded cache. Rows are held as JSON
strings with a parallel sorted MJD list, so an ``mjd`` cut is a bisect and a
join.
"""

from __future__ import annotations

import bisect
import collections
import datetime as _dt
import json
import math
import threading

import numpy as np

MJD_EPOCH = _dt.datetime(1858, 11, 17, tzinfo=_dt.timezone.utc)

#: Custom lists ("object groups") that exist in the sandbox, id -> name.
CUSTOM_GROUPS = {2: "mookodi", 14: "salt", 16: "mookodi_live", 17: "mookodi_peak",
                 40: "cv", 56: "mdwarf", 72: "heloise", 73: "vra"}

#: Main (detection) list names, by id 0..13.
MAIN_LISTS = ["garbage", "follow_up", "good", "possible", "eyeball", "attic", "stars", "agn",
              "fasttrack", "movers", "magellanic_clouds", "pm_stars", "galcand", "duplicates"]

#: Objects pinned to recorded ATLAS answers:
#: same ids, positions, names and lists; their light curves are synthetic.
ANCHORS = [
    dict(id=1000005291314656200, followup_id=38748445, ra=0.02158, dec=31.78178, atlas_designation="ATLAS20bbfr",
         other_designation="2020tjh", detection_list_id=2, sherlock="SN", mjd_disc=59103.5,
         vra=7.35, rb_pix=0.997419, groups=[2, 73]),
    dict(id=1000003581314708200, followup_id=38761203, ra=0.0149, dec=31.7856, atlas_designation=None,
         other_designation=None, detection_list_id=4, sherlock="NT", mjd_disc=59110.4,
         vra=3.2, rb_pix=0.81, groups=[]),
    dict(id=1024400381050245500, followup_id=156078554, ra=41.00231, dec=5.04645, atlas_designation=None,
         other_designation=None, detection_list_id=8, sherlock="NT", mjd_disc=60930.9,
         vra=9.66322, rb_pix=0.999968, groups=[]),
    dict(id=1134751930091216800, followup_id=90531178, ra=203.71637, dec=9.27133, atlas_designation="ATLAS21nfw",
         other_designation=None, detection_list_id=5, sherlock="VS", mjd_disc=59420.3,
         vra=1.2, rb_pix=0.52, groups=[73]),
    dict(id=1052941460110907400, followup_id=140722871, ra=88.26081, dec=11.12577, atlas_designation="ATLAS23vpx",
         other_designation=None, detection_list_id=11, sherlock="HPM", mjd_disc=60200.6,
         vra=0.8, rb_pix=0.93, groups=[56]),
]

#: An id that never exists (atlasapiclient's tests use a trailing ``01``).
MISSING_ID = 1132507360113744501

SHERLOCK_BY_LIST = {6: "VS", 7: "AGN", 11: "HPM", 9: "ORPHAN"}
SHERLOCK_CHOICES = ["SN", "SN", "SN", "NT", "NT", "ORPHAN", "VS", "CV", "BS", "UNCLEAR", "AGN"]
LIST_WEIGHTS = np.array([10, 3, 8, 6, 12, 18, 6, 3, 7, 4, 2, 4, 5, 2], dtype=float)
SPEC_TYPES = ["SN Ia", "SN II", "SN Ib/c", "SN IIn", "TDE", "CV", ""]
CATALOGUES = [("PS1", "galaxy"), ("SDSS/2MASS/PS1", "galaxy"), ("GSC/PS1", "star"),
              ("2MASS/PS1", "galaxy"), ("GLADE", "galaxy"), ("Milliquas", "QSO")]
HUMANS = ["ken.smith", "heloise.s", "jane.doe", "michael.fulton"]

SHERLOCK_XM_KEYS = (
    "transient_object_id catalogue_object_id catalogue_table_id separationarcsec "
    "northseparationarcsec eastseparationarcsec id z scale distance distance_modulus photoz "
    "photozerr association_type datecreated physical_separation_kpc catalogue_object_type "
    "catalogue_object_subtype association_rank catalogue_table_name catalogue_view_name rank "
    "rankscore search_name major_axis_arcsec direct_distance direct_distance_scale "
    "direct_distance_modulus radeg decdeg original_search_radius_arcsec catalogue_view_id "
    "u uerr b berr v verr r rerr i ierr j jerr h herr k kerr "
    "field_u field_uerr field_g field_gerr field_r field_rerr field_i field_ierr field_z "
    "field_zerr field_y field_yerr g gerr unkmag unkmagerr datelastmodified updated "
    "classificationreliability transientabsmag").split()


# -- small helpers -----------------------------------------------------------

def mjd_to_iso(mjd: float | None) -> str | None:
    """ISO 8601 UTC with ``Z``, with a fraction only when it is non-zero (as Django)."""
    if mjd is None:
        return None
    t = MJD_EPOCH + _dt.timedelta(days=float(mjd))
    t = t.replace(microsecond=0)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def mjds_to_iso(mjd: np.ndarray) -> list[str]:
    """Vectorised :func:`mjd_to_iso` (whole seconds)."""
    secs = np.floor((np.asarray(mjd, dtype=float) - 40587.0) * 86400.0).astype("int64")
    return [t + "Z" for t in np.datetime_as_string(secs.astype("datetime64[s]"), unit="s").tolist()]


def datetime_to_iso(t: _dt.datetime) -> str:
    t = t.astimezone(_dt.timezone.utc)
    text = t.strftime("%Y-%m-%dT%H:%M:%S")
    if t.microsecond:
        text += f".{t.microsecond:06d}"
    return text + "Z"


def mjd_to_epoch(mjd: float) -> float:
    return (float(mjd) - 40587.0) * 86400.0


def atlas_id(ra: float, dec: float, counter: int = 0) -> int:
    """The ATLAS id of a position: ``1 HHMMSSss S DDMMSSs NN``."""
    ra_cs = int(round((ra % 360.0) / 15.0 * 3600 * 100)) % (24 * 360000)
    hh, rem = divmod(ra_cs, 360000)
    mm, rem = divmod(rem, 6000)
    sign = 1 if dec >= 0 else 0
    dec_ds = min(int(round(abs(dec) * 36000)), 90 * 36000)
    dd, rem2 = divmod(dec_ds, 36000)
    dm, ds = divmod(rem2, 600)
    text = f"1{hh:02d}{mm:02d}{rem:04d}{sign}{dd:02d}{dm:02d}{ds:03d}{counter:02d}"
    return int(text)


def atlas_id_position(object_id: int) -> tuple[float, float]:
    """RA, Dec (deg) encoded in an ATLAS id (the inverse of :func:`atlas_id`)."""
    s = f"{object_id:019d}"
    ra = (int(s[1:3]) + int(s[3:5]) / 60 + int(s[5:9]) / 100 / 3600) * 15
    dec = int(s[10:12]) + int(s[12:14]) / 60 + int(s[14:17]) / 10 / 3600
    return ra, dec if s[9] == "1" else -dec


def _letters(n: int, width: int) -> str:
    out = ""
    for _ in range(width):
        n, r = divmod(n, 26)
        out = chr(97 + r) + out
    return out


def _year(mjd: float) -> int:
    return (MJD_EPOCH + _dt.timedelta(days=float(mjd))).year


# -- the catalogue -----------------------------------------------------------

class Catalogue:
    """All sample objects, their records and (lazily) their light-curve rows."""

    def __init__(self, seed: int = 0, n_objects: int = 300, lc_length: int = 60,
                 mjd_end: float = 61150.0, mjd_start: float = 57900.0,
                 cache_objects: int = 5000):
        self.seed = int(seed)
        self.n_objects = int(n_objects)
        self.lc_length = max(2, int(lc_length))
        self.mjd_end = float(mjd_end)
        self.mjd_start = float(mjd_start)
        self._cache: collections.OrderedDict = collections.OrderedDict()
        self._cache_max = int(cache_objects)
        self._cache_lock = threading.Lock()
        self.objects: list[dict] = []          # object records (the `object` key), in index order
        self.by_id: dict[int, int] = {}        # ATLAS id -> index
        self.extra: list[dict] = []            # per-object generation state (schedule, model...)
        self.cluster: dict = {}
        self._build()

    # ---- objects ----------------------------------------------------------

    def _positions(self, rng):
        n = self.n_objects
        n_anchor = min(len(ANCHORS), n)
        ras, decs = [a["ra"] for a in ANCHORS[:n_anchor]], [a["dec"] for a in ANCHORS[:n_anchor]]
        rest = n - n_anchor
        # About 12% of the objects sit in tight groups (3 to 6 within ~40"),
        # so that cone searches of 60" return several rows.
        n_clustered = min(rest, max(6, int(0.12 * n)))
        clusters = []
        while n_clustered > 0:
            size = min(n_clustered, int(rng.integers(3, 7)))
            c_ra = float(rng.uniform(0, 360))
            c_dec = float(np.degrees(np.arcsin(rng.uniform(-0.8, 0.95))))
            clusters.append((c_ra, c_dec, size))
            for _ in range(size):
                r = 40.0 / 3600 * math.sqrt(rng.uniform(0.02, 1.0))
                phi = rng.uniform(0, 2 * math.pi)
                decs.append(c_dec + r * math.sin(phi))
                ras.append((c_ra + r * math.cos(phi) / math.cos(math.radians(c_dec))) % 360)
            n_clustered -= size
        rest = n - len(ras)
        ras.extend(rng.uniform(0, 360, rest).tolist())
        decs.extend(np.degrees(np.arcsin(rng.uniform(-0.85, 1.0, rest))).tolist())
        return ras, decs, clusters

    def _build(self):
        rng = np.random.default_rng([self.seed, 11])
        n = self.n_objects
        ras, decs, clusters = self._positions(rng)
        if clusters:
            c_ra, c_dec, size = clusters[0]
            self.cluster = {"ra": round(c_ra, 6), "dec": round(c_dec, 6), "radius": 60.0,
                            "min_count": size}
        recent = self.mjd_end - 150
        followup_seq = 38_000_000
        name_counter = collections.Counter()
        used_ids = set()
        for i in range(n):
            anchor = ANCHORS[i] if i < len(ANCHORS) else None
            r = np.random.default_rng([self.seed, 12, i])
            ra = float(round(ras[i], 5))
            dec = float(round(decs[i], 5))
            if anchor:
                oid = anchor["id"]
                mjd_disc = anchor["mjd_disc"]
                dlist = anchor["detection_list_id"]
                sherlock = anchor["sherlock"]
            else:
                # The id encodes the discovery position, which differs a little from the mean.
                d_ra = ra + r.normal(0, 0.2) / 3600 / max(0.1, math.cos(math.radians(dec)))
                d_dec = max(-89.99, min(89.99, dec + r.normal(0, 0.2) / 3600))
                counter = 0
                oid = atlas_id(d_ra, d_dec, counter)
                while oid in used_ids or oid == MISSING_ID:
                    counter += 1
                    oid = atlas_id(d_ra, d_dec, counter)
                mjd_disc = float(r.uniform(recent, self.mjd_end - 8) if r.random() < 0.3
                                 else r.uniform(self.mjd_start + 40, self.mjd_end - 8))
                dlist = int(r.choice(14, p=LIST_WEIGHTS / LIST_WEIGHTS.sum()))
                sherlock = SHERLOCK_BY_LIST.get(dlist) or str(r.choice(SHERLOCK_CHOICES))
            used_ids.add(oid)
            promoted = bool(anchor) or r.random() < 0.9
            flag_mjd = mjd_disc + float(r.uniform(0.05, 3.0)) if promoted else None
            if anchor:
                desig, other = anchor["atlas_designation"], anchor["other_designation"]
            else:
                desig = other = None
                if promoted and dlist not in (0, 13) and r.random() < 0.65:
                    yy = _year(mjd_disc) % 100
                    name_counter[yy] += 1
                    desig = f"ATLAS{yy:02d}{_letters(700 + 37 * name_counter[yy] + i % 37, 4 if r.random() < 0.7 else 3)}"
                    if r.random() < 0.55:
                        other = f"{_year(mjd_disc)}{_letters(1000 + 53 * name_counter[yy] + i, 3)}"
            followup_seq += int(r.integers(50, 4000))
            date_inserted = mjd_disc - float(r.uniform(0, 2))
            obs_status = None
            if dlist in (1, 2, 8) and r.random() < 0.3:
                obs_status = str(r.choice(SPEC_TYPES))
            trend = None
            if r.random() < 0.8:
                trend = (f"{'rising' if r.random() < 0.5 else 'fading'} "
                         f"{abs(r.normal(0, 0.5)):05.2f} ({r.choice(['o-o', 'c-c', 'c-o', 'o-c'])})")
            has_vra = bool(anchor) or mjd_disc > 60080 or r.random() < 0.4
            record = {
                "id": oid,
                "followup_id": anchor["followup_id"] if anchor else (followup_seq if promoted else None),
                "followup_flag_date": mjd_to_iso(flag_mjd),
                "detection_id": int(r.integers(10**10, 9 * 10**10)),
                "ra": ra,
                "dec": dec,
                "object_classification": None if r.random() < 0.7 else int(r.choice([1, 2, 4, 8, 16])),
                "sherlockClassification": sherlock,
                "observation_status": obs_status,
                "htm16id": int(r.integers(34359738368, 68719476735)),
                "jtindex": int(r.integers(1, 10**9)),
                "images_id": int(r.integers(10**6, 5 * 10**7)),
                "date_inserted": mjd_to_iso(date_inserted),
                "date_modified": mjd_to_iso(flag_mjd + float(r.uniform(0, 5))) if promoted and r.random() < 0.6 else None,
                "processing_flags": int(r.integers(0, 16384)),
                "updated_by": str(r.choice(HUMANS)) if promoted and r.random() < 0.3 else None,
                "followup_priority": None,
                "external_reference_id": None,
                "detection_list_id": dlist,
                "survey_field": "ATLAS" if r.random() < 0.5 else None,
                "followup_counter": int(r.integers(1, 30000)) if promoted and r.random() < 0.5 else None,
                "atlas_designation": desig,
                "other_designation": other,
                "current_trend": trend,
                "local_comments": "check host" if r.random() < 0.03 else None,
                "ndetections": None,
                "vra": (anchor["vra"] if anchor else round(float(r.uniform(0, 10)), 5)) if has_vra else None,
                "rb_pix": anchor["rb_pix"] if anchor else round(float(r.beta(5, 1.3)), 6),
            }
            self.by_id[oid] = i
            self.objects.append(record)
            self.extra.append(self._schedule(i, record, mjd_disc))

    # ---- light-curve schedule and model (eager, cheap) --------------------

    def _schedule(self, i: int, record: dict, mjd_disc: float) -> dict:
        r = np.random.default_rng([self.seed, 13, i])
        target = max(3, int(round(self.lc_length * r.uniform(0.6, 1.4))))
        n_nights = max(2, int(math.ceil(1.9 * target / 4)))
        gaps = r.choice([1.0, 2.0, 2.0, 2.0, 3.0, 4.0], size=n_nights)
        start = mjd_disc - 0.4 * gaps.sum()
        nights = np.floor(start) + np.concatenate([[0.0], np.cumsum(gaps[:-1])])
        nights = nights[nights < self.mjd_end]
        if len(nights) < 2:
            nights = np.floor(self.mjd_end) - np.array([4.0, 2.0])
        base = nights + r.uniform(0.25, 0.6, size=len(nights))
        mjd = (base[:, None] + np.array([0.0, 0.0117, 0.0234, 0.0351])[None, :]
               + r.uniform(0, 0.0015, size=(len(nights), 4))).ravel()
        lunar = np.mod(np.floor(nights) - 59000.0 + 14.0, 29.53)
        night_filter = np.where(lunar < 10.0, "c", "o")
        filt = np.repeat(night_filter, 4)
        north = record["dec"] > -30
        south = record["dec"] < 30
        units = (["01a", "02a"] if north else []) + (["03a", "04a"] if south else []) + ["05r"]
        night_unit = r.choice(units, size=len(nights))
        unit = np.repeat(night_unit, 4)
        limit = np.round(np.repeat(r.normal(19.4, 0.35, size=len(nights)), 4)
                         + r.normal(0, 0.05, size=len(mjd)), 2)
        limit -= np.where(filt == "c", 0.0, 0.15)
        kind = record["sherlockClassification"]
        if kind in ("VS", "HPM", "AGN", "BS"):
            m0 = r.uniform(17.6, 19.6)
            model = m0 + r.uniform(0.1, 0.8) * np.sin(2 * np.pi * mjd / r.uniform(0.3, 40) + r.uniform(0, 6.3))
        else:
            peak = r.uniform(16.0, 18.6)
            t_peak = mjd_disc + r.uniform(4, 18)
            rise = r.uniform(8, 20)
            dt = mjd - t_peak
            model = np.where(dt < 0, peak + 2.5 * (dt / rise) ** 2, peak + r.uniform(0.02, 0.06) * dt)
            model = np.minimum(model, 26.0)
        model = model + np.where(filt == "c", -0.1, 0.0)
        observed = model + r.normal(0, 0.08, size=len(mjd))
        detected = observed < limit
        return {"mjd": mjd, "filter": filt, "unit": unit, "limit": limit, "model": model,
                "observed": observed, "detected": detected, "has_fp": bool(r.random() < 0.65),
                "n_fp": max(2, target // 2), "mjd_disc": mjd_disc}

    def summary(self, i: int) -> dict:
        """earliest/latest detection, mean position, rms (for list rows)."""
        x = self.extra[i]
        if "summary" in x:
            return x["summary"]
        det = np.flatnonzero(x["detected"])
        rec = self.objects[i]
        r = np.random.default_rng([self.seed, 14, i])
        out = {"earliest_mjd": None, "earliest_mag": None, "earliest_filter": None,
               "latest_mjd": None, "latest_mag": None, "latest_filter": None}
        if len(det):
            a, b = det[0], det[-1]
            out.update(earliest_mjd=round(float(x["mjd"][a]), 8), earliest_mag=round(float(x["observed"][a]), 3),
                       earliest_filter=str(x["filter"][a]), latest_mjd=round(float(x["mjd"][b]), 8),
                       latest_mag=round(float(x["observed"][b]), 3), latest_filter=str(x["filter"][b]))
        out["ra_avg"] = round(rec["ra"] + r.normal(0, 0.3) / 3600, 5)
        out["dec_avg"] = round(rec["dec"] + r.normal(0, 0.3) / 3600, 5)
        out["rms"] = round(float(r.uniform(0.05, 0.5)), 2)
        x["summary"] = out
        return out

    # ---- crossmatches (small, eager on demand) ----------------------------

    def crossmatches(self, i: int) -> dict:
        x = self.extra[i]
        if "xm" in x:
            return x["xm"]
        rec = self.objects[i]
        oid = rec["id"]
        r = np.random.default_rng([self.seed, 15, i])
        cls = rec["sherlockClassification"]
        created = mjd_to_iso(x["mjd_disc"] + 1.2)
        sx = []
        n_sx = 0 if cls in ("ORPHAN", None) else int(r.integers(1, 4))
        for k in range(n_sx):
            cat, ctype = CATALOGUES[int(r.integers(0, len(CATALOGUES)))]
            if cls in ("VS", "HPM", "CV", "BS"):
                ctype = "star"
            if cls == "AGN":
                ctype = "QSO"
            sep = float(r.uniform(0.1, 2.0) if ctype != "galaxy" else r.uniform(0.5, 30.0)) * (1 + k)
            pa = r.uniform(0, 2 * math.pi)
            north, east = sep * math.cos(pa), sep * math.sin(pa)
            photoz = round(float(r.uniform(0.01, 0.3)), 6) if ctype == "galaxy" else None
            row = dict.fromkeys(SHERLOCK_XM_KEYS)
            row.update({
                "transient_object_id": oid, "catalogue_object_id": str(int(r.integers(10**17, 10**18))),
                "catalogue_table_id": int(r.integers(1, 40)), "separationarcsec": sep,
                "northseparationarcsec": round(north, 4), "eastseparationarcsec": round(east, 4),
                "id": 396000000 + 8 * i + k, "photoz": photoz,
                "photozerr": round(photoz * 0.13, 6) if photoz else None,
                "association_type": cls if k == 0 else ("SN" if ctype == "galaxy" else "VS"),
                "datecreated": created, "catalogue_object_type": ctype,
                "catalogue_object_subtype": None if r.random() < 0.5 else "multiple",
                "catalogue_table_name": cat, "catalogue_view_name": "multiple" if r.random() < 0.5 else cat.lower(),
                "rank": k + 1, "rankscore": round(float(r.uniform(100, 3000)), 1),
                "search_name": "multiple", "radeg": round(rec["ra"] - east / 3600 / max(0.1, math.cos(math.radians(rec["dec"]))), 6),
                "decdeg": round(rec["dec"] - north / 3600, 6), "original_search_radius_arcsec": 0.0,
                "catalogue_view_id": int(r.integers(1, 30)),
                "datelastmodified": created, "updated": 1, "classificationreliability": int(r.integers(1, 4)),
            })
            for band in ("j", "h", "k"):
                if r.random() < 0.6:
                    row[band] = round(float(r.uniform(12, 17)), 3)
                    row[band + "err"] = round(float(r.uniform(0.02, 0.12)), 3)
            for band in "ugrizy":
                if r.random() < 0.8:
                    row[f"field_{band}"] = round(float(r.uniform(15, 21)), 4)
                    row[f"field_{band}err"] = round(float(r.uniform(0.0005, 0.1)), 6)
            sx.append(row)
        sc = []
        if cls is not None:
            if sx:
                best = sx[0]
                summary = f'{best["separationarcsec"]:.1f}" from {best["catalogue_object_type"]} in {best["catalogue_table_name"]}'
                annotation = (f"The transient is possibly associated with <em>{best['catalogue_object_id']}</em>; "
                              f"a {best['catalogue_object_type']} found in the {best['catalogue_table_name']} catalogues.")
            else:
                summary, annotation = "No catalogued match", "The transient is not matched against any known catalogued source."
            sc.append({"transient_object_id": oid, "classification": cls, "annotation": annotation,
                       "summary": summary, "matchverified": None, "developmentcomment": None,
                       "datelastmodified": created, "datecreated": created, "updated": "0"})
        tns = []
        if rec["other_designation"]:
            tns.append(self._ext_row(r, oid, 500136497 + 11 * i, rec["other_designation"],
                                     "Transient Name Server", rec["atlas_designation"],
                                     f"https://wis-tns.org/object/{rec['other_designation']}", x))
        ext = []
        if r.random() < 0.25:
            yy = _year(x["mjd_disc"]) % 100
            ext.append(self._ext_row(r, oid, 600000000 + 11 * i + 1, f"Gaia{yy:02d}{_letters(i, 3)}",
                                     "Gaia Alerts", None, None, x))
        if r.random() < 0.3:
            yy = _year(x["mjd_disc"]) % 100
            ext.append(self._ext_row(r, oid, 600000000 + 11 * i + 2, f"ZTF{yy:02d}aa{_letters(i * 7, 5)}",
                                     "ZTF", None, None, x))
        ext.sort(key=lambda row: row["external_designation"])
        x["xm"] = {"sherlock_crossmatches": sx, "sherlock_classifications": sc,
                   "tns_crossmatches": tns, "external_crossmatches": ext}
        return x["xm"]

    @staticmethod
    def _ext_row(r, oid, row_id, name, matched_list, other, url, x):
        return {"id": row_id, "transient_object_id": oid, "external_designation": name,
                "type": None if r.random() < 0.7 else str(r.choice(["SN Ia", "SN II", "CV"])),
                "host_galaxy": None, "mag": round(float(r.uniform(16.5, 19.5)), 3),
                "discoverer": "ATLAS" if other else str(r.choice(["ZTF", "Gaia", "Pan-STARRS"])),
                "matched_list": matched_list, "other_info": other,
                "separation": round(float(r.uniform(0.05, 1.5)), 6), "comments": None, "url": url,
                "host_z": None, "object_z": None, "disc_date": mjd_to_iso(x["mjd_disc"] + 0.3),
                "disc_filter": "cyan-ATLAS" if other else None}

    def external_names(self, i: int) -> str | None:
        xm = self.crossmatches(i)
        names = [row["external_designation"] for row in xm["tns_crossmatches"] + xm["external_crossmatches"]]
        return ",".join(names) or None

    # ---- light-curve rows (lazy, cached JSON text) ------------------------

    def rows(self, i: int) -> dict:
        """``{"lc": (mjds, texts), "lcnondets": (...), "fp": (...)}`` of one object."""
        pinned = self.extra[i].get("rows")  # an object loaded from the user's files
        if pinned is not None:
            return pinned
        with self._cache_lock:
            hit = self._cache.get(i)
            if hit is not None:
                self._cache.move_to_end(i)
                return hit
        built = self._format_rows(i)
        with self._cache_lock:
            self._cache[i] = built
            while len(self._cache) > self._cache_max:
                self._cache.popitem(last=False)
        return built

    def _format_rows(self, i: int) -> dict:
        x = self.extra[i]
        rec = self.objects[i]
        oid = rec["id"]
        r = np.random.default_rng([self.seed, 16, i])
        mjd, filt, unit, limit = x["mjd"], x["filter"], x["unit"], x["limit"]
        n = len(mjd)
        night = np.floor(mjd).astype(int)
        seq = ((mjd - night) * 2000).astype(int) % 10000
        expnames = [f"{u}{nn}o{s:04d}{f}" for u, nn, s, f in zip(unit.tolist(), night.tolist(), seq.tolist(), filt.tolist())]
        exp_ids = (np.round((mjd - 57000.0) * 1440).astype(np.int64) * 5
                   + np.searchsorted(["01a", "02a", "03a", "04a", "05r"], unit)).tolist()
        zp = np.round(np.where(filt == "c", 22.25, 22.15) + r.normal(0, 0.05, n), 3)
        ra0, dec0 = rec["ra"], rec["dec"]
        cosd = max(0.05, math.cos(math.radians(dec0)))
        pt = (f"S{'XYWMZ'[int(r.integers(0, 5))]}{int(round(ra0)) or 360:03d}"
              f"{'N' if dec0 >= 0 else 'S'}{int(abs(round(dec0))):02d}")
        inserted = mjds_to_iso(mjd + 25 / 1440)
        mag5 = limit.tolist()
        mjd_l = [round(m, 8) for m in mjd.tolist()]
        filt_l = filt.tolist()
        zp_l = zp.tolist()

        # detections, plus a few negative-flux rows (det=5) and duplicates (dup=-1)
        det = x["detected"]
        neg = (~det) & (r.random(n) < 0.05)
        lc_sel = det | neg
        lc_idx = np.flatnonzero(lc_sel)
        dup = lc_idx[(~neg[lc_idx]) & (r.random(len(lc_idx)) < 0.03)]
        idx = np.sort(np.concatenate([lc_idx, dup]), kind="stable")
        m = len(idx)
        is_dup = np.zeros(m, dtype=bool)
        is_dup[1:] = idx[1:] == idx[:-1]
        is_neg = neg[idx]
        mag = x["observed"][idx] + 0.01 * is_dup
        mag = np.where(is_neg, -(limit[idx] - r.uniform(0.0, 0.8, m)), mag)
        magerr = np.clip(0.2 * 10 ** (0.4 * (np.abs(mag) - limit[idx])) + r.normal(0, 0.005, m), 0.01, 0.4)
        scores = np.floor(r.dirichlet([3, 0.3, 0.2, 0.2, 1, 0.2, 0.2, 0.2, 0.5], size=m) * 1000).astype(int)
        scores[is_neg] = 0
        cols = zip(
            idx.tolist(), np.round(mag, 3).tolist(), np.round(magerr, 3).tolist(),
            np.round(ra0 + r.normal(0, 0.25, m) / 3600 / cosd, 5).tolist(),
            np.round(dec0 + r.normal(0, 0.25, m) / 3600, 5).tolist(),
            np.round(r.uniform(50, 10500, m), 2).tolist(), np.round(r.uniform(50, 10500, m), 2).tolist(),
            np.round(r.uniform(1.8, 3.9, m), 2).tolist(), np.round(r.uniform(0.7, 2.3, m), 2).tolist(),
            np.round(r.uniform(0, 180, m), 1).tolist(), np.where(is_neg, 5, 0).tolist(),
            np.round(r.uniform(0.5, 2.5, m), 2).tolist(), scores.tolist(), np.where(is_dup, -1, 0).tolist(),
            np.round(r.normal(0, 300, m), 1).tolist(), np.round(r.uniform(0.5, 4, m), 1).tolist())
        lc_rows = []
        for k, mg, me, rra, rdec, px, py, ma, mi, phi, dt, chin, sc, dp, wp, df in cols:
            lc_rows.append((mjd_l[k], (
                f'{{"id":{oid},"mag":{mg!r},"magerr":{me!r},"mjd":{mjd_l[k]!r},"exptime":30.0,'
                f'"filter":"{filt_l[k]}","zp":{zp_l[k]!r},"expname":"{expnames[k]}","ra":{rra!r},'
                f'"dec":{rdec!r},"atlas_metadata_id":{exp_ids[k]},"pointing":"{pt}","mag5sig":{mag5[k]!r},'
                f'"x":{px!r},"y":{py!r},"major":{ma!r},"minor":{mi!r},"phi":{phi!r},"det":{dt},'
                f'"chin":{chin!r},"pvr":{sc[0]},"ptr":{sc[1]},"pmv":{sc[2]},"pkn":{sc[3]},'
                f'"pno":{sc[4]},"pbn":{sc[5]},"pcr":{sc[6]},"pxt":{sc[7]},"psc":{sc[8]},'
                f'"dup":{dp},"wpflx":{wp!r},"dflx":{df!r},"date_inserted":"{inserted[k]}"}}')))

        nd_rows = []
        for k in np.flatnonzero(~lc_sel).tolist():
            nd_rows.append((mjd_l[k], (
                f'{{"id":{exp_ids[k]},"mjd":{mjd_l[k]!r},"exptime":30.0,"filter":"{filt_l[k]}",'
                f'"zp":{zp_l[k]!r},"expname":"{expnames[k]}","filename":"{expnames[k]}.ddc",'
                f'"input":null,"reference":null,"pointing":"{pt}","mag5sig":{mag5[k]!r},'
                f'"date_inserted":"{inserted[k]}"}}')))

        fp_rows = []
        fidx = np.flatnonzero(mjd >= x["mjd_disc"] - 20)[: x["n_fp"]] if x["has_fp"] else np.array([], int)
        q = len(fidx)
        if q:
            run = mjd_to_iso(float(mjd[fidx[-1]]) + 1.5)
            model = x["model"][fidx]
            true_ujy = np.where(model < 25, 10 ** (-0.4 * (np.minimum(model, 25) - 23.9)), 0.0)
            dujy_t = 10 ** (-0.4 * (limit[fidx] - 23.9)) / 5
            major = np.round(r.uniform(1.9, 2.6, q), 2)
            minor = np.round(r.uniform(1.7, 2.3, q), 2)
            apfit = np.round(r.normal(-0.45, 0.01, q), 4)
            zpf = zp[fidx]
            # the server's formula: uJy = peakfit*major*minor/texp * 10^(-0.4*(zp+apfit-23.9))
            factor = major * minor / 30.0 * 10 ** (-0.4 * (zpf + apfit - 23.9))
            peakfit = np.round((true_ujy + r.normal(0, 1, q) * dujy_t) / factor, 1)
            dpeak = np.maximum(0.1, np.round(dujy_t / factor, 1))
            ujy = np.round(peakfit * major * minor / 30.0 * 10 ** (-0.4 * (zpf + apfit - 23.9)), 4)
            dujy = np.round(dpeak * major * minor / 30.0 * 10 ** (-0.4 * (zpf + apfit - 23.9)), 4)
            snr = np.round(ujy / dujy, 1)
            good = snr >= 3.0
            fmag = np.round(np.where(good, 23.9 - 2.5 * np.log10(np.where(good, ujy, 1.0)),
                                     23.9 - 2.5 * np.log10(3 * dujy)), 2)
            dm = np.where(good, np.round(1.0857 / np.where(good, snr, 1.0), 2), 0.0)
            cols = zip(
                range(q), fidx.tolist(), fmag.tolist(), dm.tolist(), snr.tolist(),
                np.round(r.uniform(50, 10500, q), 2).tolist(), np.round(r.uniform(50, 10500, q), 2).tolist(),
                np.round(r.uniform(100, 400, q), 1).tolist(), np.round(r.uniform(150, 220, q), 1).tolist(),
                peakfit.tolist(), dpeak.tolist(), np.round(r.uniform(150, 220, q), 1).tolist(),
                np.round(r.normal(1000, 600, q), 1).tolist(), np.round(r.uniform(800, 2000, q), 1).tolist(),
                np.round(r.uniform(0.7, 1.4, q), 2).tolist(), major.tolist(), minor.tolist(), apfit.tolist(),
                np.where(good, "false", "true").tolist(), ujy.tolist(), dujy.tolist())
            for (j, k, fm, dmv, sn, px, py, pv, sv, pf, dpk, sf, fl, dfl, chin, ma, mi, ap, lim, uj,
                 duj) in cols:
                fp_rows.append((mjd_l[k], (
                    f'{{"id":{18000000 + 1000 * i + j},"atlas_object_id":{oid},"expname":"{expnames[k]}",'
                    f'"mjd_obs":{mjd_l[k]!r},"ra":{ra0!r},"dec":{dec0!r},"filter":"{filt_l[k]}",'
                    f'"mag":{fm!r},"dm":{dmv!r},"snr":{sn!r},"zp":{zp_l[k]!r},"x":{px!r},"y":{py!r},'
                    f'"peakval":{pv!r},"skyval":{sv!r},"peakfit":{pf!r},"dpeak":{dpk!r},'
                    f'"skyfit":{sf!r},"flux":{fl!r},"dflux":{dfl!r},"chin":{chin!r},"major":{ma!r},'
                    f'"minor":{mi!r},"snrdet":1.0,"snrlimit":3.0,"apfit":{ap!r},'
                    f'"date_inserted":"{run}","limiting_mag":{lim},"redo_photometry":false,'
                    f'"uJy":{uj!r},"duJy":{duj!r},"texp":30.0}}')))

        def pack(rows):
            rows.sort(key=lambda t: t[0])
            return ([m for m, _ in rows], [t for _, t in rows])

        return {"lc": pack(lc_rows), "lcnondets": pack(nd_rows), "fp": pack(fp_rows)}

    # ---- objects of the user's own (loaded at run time, dropped by truncate) -----

    def add_object(self, record: dict, lc: list[dict]) -> int:
        """Add an object with its light curve: ``lc`` rows with ``mjd``, ``filter`` and ``mag``,
        ``magerr`` (None: a non-detection, with ``mag5sig``), optional ``ra``/``dec``. Returns its index."""
        i = len(self.objects)
        oid = record["id"]
        lc = sorted(lc, key=lambda r: r["mjd"])
        det = [r for r in lc if r.get("mag") is not None]
        nondet = [r for r in lc if r.get("mag") is None]

        def expname(r):
            return f"u{int(r['mjd'])}o{int((r['mjd'] % 1) * 10000):04d}{r['filter']}"

        def exp_id(r):
            return int(round((r["mjd"] - 57000.0) * 1440)) * 5

        def inserted(r):
            return mjd_to_iso(r["mjd"] + 25 / 1440)

        lc_rows = [(r["mjd"], json.dumps({
            "id": oid, "mag": r["mag"], "magerr": r.get("magerr"), "mjd": r["mjd"], "exptime": 30.0,
            "filter": r["filter"], "zp": None, "expname": expname(r), "ra": r.get("ra", record["ra"]),
            "dec": r.get("dec", record["dec"]), "atlas_metadata_id": exp_id(r), "pointing": None,
            "mag5sig": r.get("mag5sig"), "x": None, "y": None, "major": None, "minor": None, "phi": None,
            "det": 0, "chin": None, "pvr": None, "ptr": None, "pmv": None, "pkn": None, "pno": None,
            "pbn": None, "pcr": None, "pxt": None, "psc": None, "dup": 0, "wpflx": None, "dflx": None,
            "date_inserted": inserted(r)}, separators=(",", ":"))) for r in det]
        nd_rows = [(r["mjd"], json.dumps({
            "id": exp_id(r), "mjd": r["mjd"], "exptime": 30.0, "filter": r["filter"], "zp": None,
            "expname": expname(r), "filename": expname(r) + ".ddc", "input": None, "reference": None,
            "pointing": None, "mag5sig": r.get("mag5sig"), "date_inserted": inserted(r)},
            separators=(",", ":"))) for r in nondet]
        rows = {key: ([m for m, _ in got], [t for _, t in got])
                for key, got in (("lc", lc_rows), ("lcnondets", nd_rows), ("fp", []))}
        mjd = np.array([r["mjd"] for r in det], float)
        empty_xm = {"sherlock_crossmatches": [], "sherlock_classifications": [], "tns_crossmatches": [],
                    "external_crossmatches": []}
        self.objects.append(record)
        self.by_id[oid] = i
        self.extra.append({"rows": rows, "mjd": mjd, "detected": np.ones(len(det), bool),
                           "observed": np.array([r["mag"] for r in det], float),
                           "filter": np.array([r["filter"] for r in det], str),
                           "mjd_disc": float(mjd[0]) if len(mjd) else self.mjd_end, "has_fp": False,
                           "n_fp": 0, "xm": empty_xm})
        return i

    def truncate(self, n: int) -> None:
        """Drop the objects added after the first ``n``."""
        for record in self.objects[n:]:
            self.by_id.pop(record["id"], None)
        del self.objects[n:]
        del self.extra[n:]

    def rows_json(self, i: int, key: str, mjd: float | None) -> str:
        """The JSON array text of ``lc``/``lcnondets``/``fp`` rows, cut at ``mjd``."""
        mjds, texts = self.rows(i)[key]
        if mjd is not None:
            # lc/lcnondets keep mjd > value; fp keeps mjd_obs >= value
            cut = bisect.bisect_left(mjds, mjd) if key == "fp" else bisect.bisect_right(mjds, mjd)
            texts = texts[cut:]
        return "[" + ",".join(texts) + "]"
