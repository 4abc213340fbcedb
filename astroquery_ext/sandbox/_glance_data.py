"""Deterministic sample data for the Glance sandbox.

Everything here is synthetic: groups, people, titles and dates are drawn from
small vocabularies with a ``random.Random(seed)``, so the same seed and sizes
give byte-identical records. The record shapes follow the Glance API
(its published ``api.yml``): camelCase keys, no extra keys, lists never
``null``, scalars that the API sends as strings sent as strings, reference
codes in the forms the real service uses:

==============  ===============================  ==========================
type            reference code                   final code
==============  ===============================  ==========================
analysis        ``ANA-HDBS-2023-22``
paper           ``HDBS-2023-22``
CONF note       ``CONF-HDBS-2023-22``            ``ATLAS-CONF-2023-009``
PUB note        ``PUB-HDBS-2023-22``             ``ATL-PHYS-PUB-2023-011``
plot            ``PLOT-MUON-2018-08``
==============  ===============================  ==========================

Papers and notes are children of an analysis and share its group, year and
number; the analysis lists them in ``relatedPublications``.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import random
from typing import Any

#: Raw status/state values and their display labels, per record type and field
#: (from the service's published status table).
STATUS_LABELS: dict[str, dict[str, dict[str, str]]] = {
    "analysis": {
        "status": {"created": "Created", "analysis_closed": "Closed",
                   "phase0_active": "Phase 0 Active", "phase0_closed": "Phase 0 Finished"},
        "phase0.state": {
            "not_started": "Phase 0 Data",
            "eoi_meeting": "Expression of interest (EOI) meeting data",
            "analysis_definition": "Analysis definition after EOI meeting",
            "analysis_coordinators_selection": "Analysis contact and expert review selection",
            "first_analysis_data": "Analysis metadata",
            "analysis_coordinators_timeline": "Analysis contacts' target date",
            "second_analysis_data": "Auxiliary metadata",
            "internal_note_editors_definition": "Internal note editors and contact editors appointment",
            "edboard_request_meeting_data": "Editorial Board request meeting and formation data",
            "edboard_meeting_data": "Editorial Board meeting data",
            "pre_approval_meeting_data": "Pre approval meeting data",
            "pgc_sgc_contact_signoff": "PGC or SGC pre approval sign-off",
            "publication_draft": "Publication draft",
            "approval_meeting_data": "Approval meeting data",
            "approval_acceptance": "Approval acceptance",
            "finished": "Publications definition",
            "paper_skip": "Skipped to Paper",
            "conf_skip": "Skipped to CONF Note",
            "pub_skip": "Skipped to PUB Note",
            "paper_contact_editors_definition":
                "Contact editors and Editorial Board appointment (skipped to Paper)",
            "conf_contact_editors_definition":
                "Contact editors and Editorial Board appointment (skipped to CONF note)",
            "pub_contact_editors_definition": "Contact editors appointment (skipped to PUB note)",
        },
    },
    "paper": {
        "status": {"created": "Created", "analysis_closed": "Closed",
                   "phase1_active": "Phase 1 Active", "phase1_closed": "Phase 1 Finished",
                   "phase3_active": "Phase 2 Active", "phase3_closed": "Phase 2 Finished",
                   "submission_active": "Publication Phase Active",
                   "submission_closed": "Publication Phase Finished"},
        "phase1.state": {"not_started": "Phase 1 Data", "started": "Editorial Board",
                         "approved_by_reviewer": "Analysis Review",
                         "lpg_approved": "Editorial Board Draft Sign-off",
                         "review_closed": "Draft 1 Released to ATLAS", "finished": "Phase 1 Finished"},
        "phase2.state": {
            "started": "Phase 2 Data", "final_review_closed": "Draft 2 Approval Process",
            "update_edboard": "Revised Draft Final Sign-off by Editorial Board Chair",
            "updated_Pubcomm": "Revised Draft Final Sign-off by Publication Committee Chair or Deputy",
            "updated_SpokespersonDate": "Final Sign-off by Spokesperson or Deputy",
            "finished": "Phase 2 Finished"},
        "publicationPhase.state": {
            "not_started": "Publication Phase Launch", "started": "Tarball Receiving",
            "tarball_received": "CERN and ATLAS Collection", "submitted_to_arxiv": "Journal Submission",
            "submitted_to_journal": "Journal Reports Receiving",
            "journal_report_received": "Journal Reports Answering",
            "journal_report_answered": "Journal Acceptance", "accepted_by_journal": "Proofs Receiving",
            "proof_received": "Proofs Answering", "proof_answered": "Online Publication",
            "published_online": "Final ArXiv Replacement", "erratum_requested": "Erratum Submission",
            "erratum_submitted": "Erratum Acceptance", "final_arxiv_replaced": "Paper Finish",
            "finished": "Publication Phase Finished"},
    },
    "confnote": {
        "status": {"created": "Created", "analysis_closed": "Closed",
                   "phase1_active": "Phase 1 Active", "phase1_closed": "Phase 1 Finished"},
        "phase1.state": {
            "not_started": "Phase 1 Data", "started": "Editorial Board",
            "approved_by_reviewer": "CONF note review and Production of Draft",
            "lgp_approved": "Editorial Board Draft Sign-off", "phase1_active": "Phase 1 Active",
            "second_signed": "CONF Release", "atlas_approved": "Final Sign-off",
            "edBoardSignOff": "Editorial Board Draft Sign-off",
            "draft_released": "ATLAS Review Organized by Physics Coordinator",
            "review_closed": "Draft 1 Released to ATLAS", "finished": "Phase 1 Finished"},
    },
    "pubnote": {
        "status": {"created": "Created", "analysis_closed": "Closed",
                   "phase1_active": "Phase 1 Active", "phase1_closed": "Phase 1 Finished"},
        "phase1.state": {
            "not_started": "Phase 1 Data", "started": "Readers Data",
            "readers_choosen": "Pubnote review and production of draft",
            "draft_released": "Draft Released by First Reader for ATLAS Circulation",
            "atlas_circulation": "ATLAS Circulation", "conveners_approval": "Group Approval",
            "atlas_approved": "Proceed to Sign-Off", "setSignOffResponsible": "Sign-Off Readers",
            "first_signed": "Readers Sign-Off Dates and Final Sign-Off",
            "second_signed": "Finish Phase", "finished": "Phase 1 Finished"},
    },
    "plot": {
        "status": {"created": "Created", "phase1_active": "Phase 1 Active",
                   "phase1_closed": "Phase 1 Finished"},
        "phase1.state": {"not_started": "Phase 1 Data", "atlas_circulation": "ATLAS Circulation",
                         "finish_phase": "Finish Phase", "finished": "Phase 1 Finished",
                         "review_approval": "Plots Review and Approval",
                         "sign_off": "Sign-Off or Re-circulation"},
    },
}
STATUS_LABELS["publication"] = {"status": {**STATUS_LABELS["paper"]["status"],
                                           **STATUS_LABELS["analysis"]["status"]}}

#: Leading groups (all four capital letters, as the CONF/PUB code forms need)
#: with their subgroup topics.
GROUPS: dict[str, list[str]] = {
    "HDBS": ["DiHiggs", "Hbb", "Htautau", "Hgamgam", "HZZ", "Coupling", "BSMHiggs"],
    "HMBS": ["Boosted", "Rare", "Invisible"],
    "SUSY": ["EW", "DirectStopSbottom", "Strong", "RPV", "LLP"],
    "EXOT": ["Dijet", "Dilepton", "LLP", "DarkMatter", "VLQ", "Diboson"],
    "TOPQ": ["TTbarXsec", "SingleTop", "TopMass", "TopProperties", "TTX"],
    "STDM": ["Jets", "WZ", "Multiboson", "Photons", "SoftQCD"],
    "BPHY": ["Bmeson", "Quarkonia", "RareDecays"],
    "HION": ["Flow", "Jets", "UPC", "Heavyflavour"],
    "EGAM": ["Calibration", "Identification", "Isolation"],
    "MUON": ["Momentum", "Efficiency", "Alignment"],
    "JETM": ["JES", "JER", "MET", "Pileup"],
    "FTAG": ["Calibration", "Algorithms", "Xbb"],
    "TAUP": ["Identification", "Energy", "Trigger"],
    "IDTR": ["Alignment", "TPERF", "VDT", "Tracking"],
    "TRIG": ["Menu", "Egamma", "Muon", "Jet"],
    "DAPR": ["Luminosity", "DataQuality", "Pileup"],
    "PMGR": ["Generators", "Tuning", "Uncertainties"],
    "SIMU": ["FastSim", "FullSim", "Digitization"],
    "LARG": ["Calibration", "Upgrade"],
    "TILE": ["Calibration", "Performance"],
    "FWDP": ["AFP", "ALFA", "ZDC"],
    "LUMI": ["LUCID", "VdM", "Calibration"],
    "UPGR": ["ITk", "HGTD", "TDAQ"],
    "SOFT": ["Reconstruction", "Analysis"],
    "HLTR": ["Tracking", "Calorimeter"],
    "MLTA": ["Tagging", "Anomaly"],
    "DETR": ["Pixel", "SCT", "TRT"],
    "CALO": ["Clusters", "Noise"],
    "ALGO": ["Jets", "Vertexing"],
    "PERF": ["Combined", "Electrons"],
}
YEARS = list(range(2010, 2027))

FIRST_NAMES = ["Han", "Leia", "Luke", "Ada", "Marie", "Enrico", "Lise", "Paul", "Emmy", "Niels",
               "Chien-Shiung", "Satyendra", "Hideki", "Fabiola", "Peter", "Sau Lan", "Carlo",
               "Vera", "Richard", "Maria", "Abdus", "Gerard", "Melissa", "Tomás", "Ingrid",
               "Jocelyn", "Rafael", "Anja", "Yuki", "Olusegun", "Priya", "Björn", "Zoë",
               "Mateus", "Sven", "Chiara", "Dmitri", "Aisha", "Lars", "Noor"]
LAST_NAMES = ["Solo", "Organa", "Skywalker", "Lovelace", "Curie", "Fermi", "Meitner", "Dirac",
              "Noether", "Bohr", "Wu", "Bose", "Yukawa", "Gianotti", "Higgs", "Wu", "Rubbia",
              "Rubin", "Feynman", "Goeppert", "Salam", "t Hooft", "Franklin", "Núñez", "Strand",
              "Bell", "Reyes", "Schmidt", "Tanaka", "Adeyemi", "Iyer", "Larsson", "Müller",
              "Silva", "Berg", "Rossi", "Ivanov", "Khan", "Nilsen", "Haddad"]
KEYWORDS = ["13 TeV", "13.6 TeV", "2 leptons", "3 leptons", "Di-Higgs", "Higgs", "MET", "b-jets",
            "VBF", "Gluon fusion", "Photons", "Top quark", "Dark matter", "Long-lived particles",
            "R21", "R22", "R24", "Boosted", "Tau leptons", "Jets", "Heavy ions", "Flavour tagging",
            "BSM search", "Precision measurement", "Cross section", "Resonance search",
            "Effective field theory", "Machine learning", "Luminosity", "Calibration"]
STAT_TOOLS = ["HistFitter", "TRExFitter", "pyhf", "Standalone RooStats", "xmlAnaWSBuilder",
              "WSMaker", "Other"]
MVA_TOOLS = ["Keras", "TensorFlow", "PyTorch", "XGBoost", "TMVA", "LightGBM", "scikit-learn"]
NTUPLING = ["TopCPToolkit", "EasyJet", "CAF", "xAODAnaHelpers", "FastFrames", "AnalysisBase"]
HISTOGRAMMING = ["hist", "ROOT", "FastFrames", "coffea", "CAF"]
COLLISIONS = [  # type, year, run, ecm, lumi
    ("p-p", "2015+2016+2017+2018", "Run 2", "13", "140"),
    ("p-p", "2015+2016+2017+2018", "Run 2", "13", "139"),
    ("p-p", "2022+2023", "Run 3", "13.6", "56"),
    ("p-p", "2022+2023+2024", "Run 3", "13.6", "183"),
    ("p-p", "2012", "Run 1", "8", "20.3"),
    ("p-p", "2011", "Run 1", "7", "4.6"),
    ("Pb-Pb", "2018", "Run 2", "5.02", "0.00173"),
    ("p-Pb", "2016", "Run 2", "8.16", "0.165"),
    ("Xe-Xe", "2017", "Run 2", "5.44", "0.000003"),
    ("OO", "2025", "Run 3", "5.36", "0.0005"),
]
TITLE_TOPICS = ["Search for", "Measurement of", "Observation of", "Study of", "Evidence for",
                "Combination of", "Calibration of", "Performance of"]
TITLE_OBJECTS = ["HH -> bbll", "ttH(bb)", "W' -> tb", "Z' -> ll", "stop pairs", "higgsinos",
                 "dark photons", "VBF H -> invisible", "tt+gamma", "WZ polarisation",
                 "B_s -> mumu", "J/psi flow", "jet quenching", "b-tagging efficiency",
                 "muon momentum scale", "electron identification", "tau energy scale",
                 "luminosity", "long-lived neutral particles", "vector-like quarks",
                 "four-top production", "light-by-light scattering", "H -> Zgamma",
                 "charged Higgs bosons", "leptoquarks"]
TITLE_SUFFIX = ["full Run 2", "Run 3", "139 fb-1", "with the ATLAS detector", "at 13.6 TeV",
                "in Pb+Pb collisions", "in the 1-lepton channel", "legacy", "a+b c?"]
TRIGGER_STEMS = [("HLT_e{0}_lhtight_ivarloose", "electron", [26, 28, 60, 140, 300]),
                 ("HLT_e{0}_lhmedium", "electron", [60, 120]),
                 ("HLT_2e{0}_lhvloose", "electron", [12, 17, 24]),
                 ("HLT_mu{0}_ivarmedium", "muon", [24, 26, 28]),
                 ("HLT_mu{0}", "muon", [50, 60, 80]),
                 ("HLT_2mu{0}", "muon", [10, 14, 18]),
                 ("HLT_g{0}_loose", "photon", [120, 140, 200]),
                 ("HLT_2g{0}_tight", "photon", [20, 22, 25]),
                 ("HLT_j{0}", "jet", [360, 400, 420, 460]),
                 ("HLT_j{0}_a10_lcw_subjes", "jet", [420, 460, 480]),
                 ("HLT_xe{0}_pufit", "met", [90, 100, 110, 120]),
                 ("HLT_tau{0}_medium1_tracktwo", "tau", [80, 125, 160]),
                 ("L1_EM{0}VHI", "L1", [20, 22, 24]),
                 ("L1_MU{0}", "L1", [14, 18, 20]),
                 ("L1_J{0}", "L1", [75, 100, 120])]
TRIGGER_CATEGORIES = ["primary", "backup", "disabled", "support"]
PHYSICS_PUB_PREFIXES = ["ATL-PHYS-PUB", "ATL-PHYS-PUB", "ATL-PHYS-PUB", "ATL-DAQ-PUB", "ATL-SOFT-PUB"]

_ANALYSIS_STATUS = ["created", "analysis_closed", "phase0_active", "phase0_closed"]
_ANALYSIS_STATUS_W = [1, 1, 4, 6]


@dataclasses.dataclass
class GlanceData:
    """All records of one sandbox, by endpoint mode, plus a few anchors for tests."""

    analysis: list[dict]
    paper: list[dict]
    confnote: list[dict]
    pubnote: list[dict]
    plot: list[dict]
    publication: list[dict]
    leadinggroup: list[dict]
    subgroup: list[dict]
    trigger: list[dict]

    def counts(self) -> dict[str, int]:
        return {mode: len(getattr(self, mode)) for mode in MODES}

    def known(self) -> dict[str, Any]:
        """A few reference codes a test can rely on (first records of each type)."""
        final_conf = next((c for c in self.confnote if c.get("finalReferenceCode")), self.confnote[0]
                          if self.confnote else {})
        final_pub = next((c for c in self.pubnote if c.get("finalReferenceCode")), self.pubnote[0]
                         if self.pubnote else {})
        return {
            "analysis": [r["referenceCode"] for r in self.analysis[:5]],
            "paper": [r["referenceCode"] for r in self.paper[:5]],
            "confnote": [r["temporaryReferenceCode"] for r in self.confnote[:5]],
            "confnote_final": {"temporaryReferenceCode": final_conf.get("temporaryReferenceCode"),
                               "finalReferenceCode": final_conf.get("finalReferenceCode")},
            "pubnote": [r["temporaryReferenceCode"] for r in self.pubnote[:5]],
            "pubnote_final": {"temporaryReferenceCode": final_pub.get("temporaryReferenceCode"),
                              "finalReferenceCode": final_pub.get("finalReferenceCode")},
            "plot": [r["referenceCode"] for r in self.plot[:5]],
            "leadinggroup": [r["name"] for r in self.leadinggroup[:5]],
            "subgroup": [r["name"] for r in self.subgroup[:5]],
            "trigger": [r["name"] for r in self.trigger[:5]],
        }


MODES = ("analysis", "paper", "confnote", "pubnote", "plot", "publication",
         "leadinggroup", "subgroup", "trigger")


class _Gen:
    def __init__(self, seed: int):
        self.r = random.Random(f"glance-sandbox:{seed}")
        self.cds = 1000000
        self.gitlab = 150000
        r = self.r
        people = []
        for i in range(600):
            first, last = r.choice(FIRST_NAMES), r.choice(LAST_NAMES)
            ascii_first = first.encode("ascii", "ignore").decode().lower().replace(" ", "")
            ascii_last = last.encode("ascii", "ignore").decode().lower().replace(" ", "")
            people.append({"cernCcid": str(700000 + i * 13), "firstName": first, "lastName": last,
                           "email": f"{ascii_first}.{ascii_last}{i}@cern.ch"})
        self.people = people

    # -- small pieces ---------------------------------------------------------

    def person(self) -> dict:
        return dict(self.r.choice(self.people))

    def cds_url(self) -> str:
        self.cds += self.r.randint(1, 40)
        return f"https://cds.cern.ch/record/{self.cds}"

    def date(self, start: _dt.date, max_days: int = 400) -> _dt.date:
        return start + _dt.timedelta(days=self.r.randint(1, max_days))

    def maybe_date(self, start: _dt.date, p: float = 0.75, max_days: int = 400) -> str | None:
        return self.date(start, max_days).isoformat() if self.r.random() < p else None

    def names(self, vocab: list[str], lo: int, hi: int) -> list[dict]:
        return [{"name": n} for n in sorted(self.r.sample(vocab, self.r.randint(lo, hi)))]

    def groups(self, lead: str, *, plot: bool = False) -> dict:
        r = self.r
        subs = [f"{lead}-{t}" for t in r.sample(GROUPS[lead], r.randint(1, min(2, len(GROUPS[lead]))))]
        others = [{"name": g} for g in r.sample(sorted(GROUPS), r.choice([0, 0, 0, 1, 2])) if g != lead]
        if plot:
            return {"leadingGroup": {"name": lead}, "otherGroups": others}
        out = {"leadingGroup": {"name": lead}}
        if r.random() < 0.6:
            out["leadingSubgroup"] = {"name": subs[0]}
        out["subgroups"] = [{"name": s} for s in subs]
        out["otherGroups"] = others
        return out

    def collisions(self, year: int) -> list[dict]:
        r = self.r
        pool = [c for c in COLLISIONS if int(c[1][:4]) <= year] or COLLISIONS[:1]
        out = []
        for typ, yrs, run, ecm, lumi in r.sample(pool, 1 if r.random() < 0.8 else min(2, len(pool))):
            out.append({"type": typ, "year": yrs, "run": run, "ecmValue": ecm, "ecmUnit": "TeV",
                        "luminosityValue": lumi, "luminosityUnit": "femtobarn-1"})
        return out

    def metadata(self, year: int, *, analysis: bool = False, triggers: list[str] | None = None) -> dict:
        r = self.r
        md = {"collisions": self.collisions(year),
              "keywords": self.names(KEYWORDS, 1, 6),
              "statisticalTools": self.names(STAT_TOOLS, 0, 2),
              "mvaMlTools": self.names(MVA_TOOLS, 0, 3)}
        if analysis:
            md["triggers"] = [{"name": t} for t in r.sample(triggers, r.randint(0, 3))] if triggers else []
            md["analysisFramework"] = ({"ntupling": r.choice(NTUPLING), "histogramming": r.choice(HISTOGRAMMING)}
                                       if r.random() < 0.8 else {"ntupling": None, "histogramming": None})
            md["datasets"] = [{"name": f"mc{r.choice([16, 20, 21, 23])}_13TeV.{r.randint(300000, 999999)}."
                                       f"{r.choice(['PhPy8EG', 'Sh_2214', 'MGPy8EG'])}_{r.choice(['ttbar', 'Wjets', 'Zjets', 'HH', 'signal'])}"}
                              for _ in range(r.randint(0, 3))]
        return md

    def team(self, start: _dt.date, *, analysis: bool, plot: bool = False) -> list[dict]:
        r = self.r
        team = []
        for j in range(r.randint(2, 9)):
            m = self.person()
            m["isContactEditor"] = r.random() < 0.2
            if plot:
                team.append(m)
                continue
            contact = j == 0 or r.random() < 0.1
            if analysis or r.random() < 0.5:
                m["isAnalysisContact"] = contact
                m["analysisContactAssignment"] = (
                    {"startDate": start.isoformat(), "endDate": self.maybe_date(start, 0.4, 900)}
                    if contact else {"startDate": None, "endDate": None})
            else:
                m["isAnalysisContact"] = None
                m["analysisContactAssignment"] = None
            team.append(m)
        return team

    def board(self, n_lo: int = 2, n_hi: int = 5) -> list[dict]:
        r = self.r
        board = []
        for j in range(r.randint(n_lo, n_hi)):
            m = self.person()
            m["isChair"] = j == 0
            m["isExOfficio"] = j > 0 and r.random() < 0.25
            board.append(m)
        return board

    def links(self, label: str, n_max: int = 2) -> list[dict]:
        return [{"label": f"{label} {k + 1}", "url": self.cds_url()} for k in range(self.r.randint(0, n_max))]

    def documentation(self, code: str, lead: str, *, repos: bool) -> dict:
        r = self.r
        reps = []
        if repos:
            for typ in r.sample(["CONF", "INT", "PAP", "PUB"], r.randint(0, 3)):
                self.gitlab += r.randint(1, 300)
                reps.append({"label": None if r.random() < 0.7 else f"{typ} repository",
                             "url": f"https://gitlab.cern.ch/atlas-physics-office/{lead}/{code}/{code}-{typ}",
                             "gitlabId": str(self.gitlab), "type": typ})
        docs = [{"label": r.choice(["INT note", "Paper draft", "Support note", "Draft 1"]), "url": self.cds_url()}
                for _ in range(r.randint(0, 3))]
        return {"repositories": reps, "supportingInternalDocuments": docs}

    def meetings(self, kind: str, start: _dt.date) -> list[dict]:
        r = self.r
        r.random()  # (kept so the rest of the data stays as it was for a seed)
        out = []  # never null: api.yml and a captured record both say a list
        for k in range(r.randint(0, 2)):
            d = self.date(start, 500)
            out.append({"title": f"{kind} meeting {k + 1}",
                        "date": f"{d.isoformat()}T{r.choice([9, 10, 14, 16]):02d}:{r.choice([0, 30]):02d}:00",
                        "comments": r.choice([None, "Approved", "Follow-up requested", "OK with minor changes"]),
                        "label": "Indico", "url": f"https://indico.cern.ch/event/{r.randint(100000, 1999999)}/"})
        return out

    def title(self) -> tuple[str, str]:
        r = self.r
        short = f"{r.choice(TITLE_OBJECTS)} {r.choice(TITLE_SUFFIX)}"
        full = f"{r.choice(TITLE_TOPICS)} {short} using pp collisions at the LHC"
        return short, full


def _slots(r: random.Random, n: int, kinds: str) -> list[tuple[str, int, int]]:
    """``n`` distinct (group, year, number) triples, numbered 1, 2, ... within each group and year.

    Later years and the big physics groups are busier, as in the real service.
    """
    groups = sorted(GROUPS)
    capacity = len(groups) * len(YEARS) * 99
    if n > capacity:
        raise ValueError(f"at most {capacity} {kinds} fit the reference-code format; asked for {n}")
    weights = [len(GROUPS[gname]) * (1 + k / 4) for gname in groups for k, _y in enumerate(YEARS)]
    buckets = [(gname, y) for gname in groups for y in YEARS]
    used: dict[tuple[str, int], int] = {}
    out = []
    while len(out) < n:
        for bucket in r.choices(buckets, weights, k=min(4096, 2 * (n - len(out)))):
            count = used.get(bucket, 0)
            if count >= 99:
                continue
            used[bucket] = count + 1
            out.append((bucket[0], bucket[1], count + 1))
            if len(out) == n:
                break
    out.sort(key=lambda t: (t[1], t[0], t[2]))
    return out


def build(seed: int = 0, *, n_analyses: int = 300, n_papers: int | None = None,
          n_confnotes: int | None = None, n_pubnotes: int | None = None, n_plots: int | None = None,
          n_triggers: int = 120) -> GlanceData:
    """Build every record type. Papers and notes default to fractions of the analyses."""
    g = _Gen(seed)
    r = g.r
    n_papers = int(0.4 * n_analyses) if n_papers is None else int(n_papers)
    n_confnotes = int(0.3 * n_analyses) if n_confnotes is None else int(n_confnotes)
    n_pubnotes = int(0.2 * n_analyses) if n_pubnotes is None else int(n_pubnotes)
    n_plots = int(0.25 * n_analyses) if n_plots is None else int(n_plots)
    for name, n in (("papers", n_papers), ("CONF notes", n_confnotes), ("PUB notes", n_pubnotes)):
        if n > n_analyses:
            raise ValueError(f"{name} are children of analyses: at most n_analyses={n_analyses}, got {n}")

    # triggers first: analyses refer to them
    triggers, seen = [], set()
    combos = [(stem.format(thr), cat, thr) for stem, cat, thrs in TRIGGER_STEMS for thr in thrs]
    for k in range(n_triggers):
        for _ in range(50):
            name, cat, _thr = r.choice(combos)
            year = str(r.choice(range(2015, 2026)))
            if (name, year) not in seen:
                break
        seen.add((name, year))
        category = cat if r.random() < 0.3 else r.choice(TRIGGER_CATEGORIES)
        triggers.append({"name": name, "year": year, "category": {"name": category}})
    triggers.sort(key=lambda t: (t["year"], t["name"]))
    trigger_names = sorted({t["name"] for t in triggers})

    analyses = []
    slots = _slots(r, n_analyses, "analyses")
    for lead, year, nn in slots:
        code = f"ANA-{lead}-{year}-{nn:02d}"
        created = _dt.date(year, 1, 1) + _dt.timedelta(days=r.randint(0, 364))
        status = r.choices(_ANALYSIS_STATUS, _ANALYSIS_STATUS_W)[0]
        short, _full = g.title()
        rec = {"referenceCode": code, "creationDate": created.isoformat(),
               "status": STATUS_LABELS["analysis"]["status"][status],
               "shortTitle": short,
               "publicShortTitle": short.replace("  ", " ") if r.random() < 0.7 else None,
               "groups": g.groups(lead),
               "amiGlance": [{"label": f"AMI {lead} {k + 1}", "url": f"https://ami.in2p3.fr/app?subapp=glance&id={r.randint(1000, 99999)}"}
                             for k in range(r.choice([0, 0, 1, 2]))],
               "documentation": g.documentation(code, lead, repos=True),
               "analysisTeam": g.team(created, analysis=True),
               "metadata": g.metadata(year, analysis=True, triggers=trigger_names),
               "relatedPublications": []}
        if status == "created":
            phase0 = None
        else:
            states = list(STATUS_LABELS["analysis"]["phase0.state"])
            state = (r.choice(["finished", "paper_skip", "conf_skip", "pub_skip"]) if status == "phase0_closed"
                     else r.choice(states[:15]))
            phase0 = {"state": STATUS_LABELS["analysis"]["phase0.state"][state],
                      "startDate": created.isoformat(),
                      "mainPhysicsAim": r.choice([None, f"Sensitivity to {short}", "Improve on previous limits"]),
                      "datasetUsed": r.choice([None, "Full Run 2", "Run 3 2022-2023", "2024 data"]),
                      "modelTested": r.choice([None, "2HDM", "hMSSM", "SM", "Simplified models"]),
                      "methods": r.choice([None, "Profile likelihood fit", "BDT + binned fit", "Cut and count"]),
                      "editorialBoardFormedDate": g.maybe_date(created, 0.6),
                      "pgcOrSgcSignOffDate": g.maybe_date(created, 0.4, 700),
                      "editorialBoard": g.board(),
                      "eoiMeetings": g.meetings("EOI", created),
                      "editorialBoardRequestMeetings": g.meetings("EdBoard request", created),
                      "preApprovalMeetings": g.meetings("Pre-approval", created),
                      "approvalMeetings": g.meetings("Approval", created)}
        rec["phase0"] = phase0
        if r.random() < 0.15:
            rec["extraMetadata"] = {"legacyId": r.randint(1, 9999), "notes": r.choice(["", "migrated"])}
        else:
            rec["extraMetadata"] = {}
        analyses.append(rec)

    def children(n: int) -> list[int]:
        return sorted(r.sample(range(n_analyses), n))

    papers = []
    for idx in children(n_papers):
        ana = analyses[idx]
        lead = ana["groups"]["leadingGroup"]["name"]
        _, _, year, nn = ana["referenceCode"].split("-")
        code = f"{lead}-{year}-{nn}"
        ana["relatedPublications"].append({"referenceCode": code, "type": "Paper"})
        start = _dt.date.fromisoformat(ana["creationDate"]) + _dt.timedelta(days=r.randint(60, 500))
        status = r.choice(list(STATUS_LABELS["paper"]["status"]))
        short, full = g.title()
        p1s = list(STATUS_LABELS["paper"]["phase1.state"].values())
        rec = {"referenceCode": code, "status": STATUS_LABELS["paper"]["status"][status],
               "shortTitle": ana["shortTitle"], "publicShortTitle": ana["publicShortTitle"], "fullTitle": full,
               "groups": ana["groups"], "documentation": g.documentation(code, lead, repos=r.random() < 0.3),
               "analysisTeam": g.team(start, analysis=False),
               "metadata": {k: v for k, v in ana["metadata"].items()
                            if k in ("collisions", "keywords", "statisticalTools", "mvaMlTools")},
               "rivetRoutinesUrl": (f"https://rivet.hepforge.org/analyses/ATLAS_{year}_I{r.randint(1000000, 2999999)}"
                                    if r.random() < 0.3 else None),
               "relatedAnalysis": {"referenceCode": ana["referenceCode"], "type": "Analysis"},
               "phase1": {"state": r.choice(p1s), "startDate": start.isoformat(),
                          "editorialBoard": g.board(),
                          "editorialBoardFormedDate": g.maybe_date(start),
                          "languageEditorsSignOffDate": g.maybe_date(start, 0.5),
                          "presentationDate": g.maybe_date(start, 0.5),
                          "pgcApprovalDate": g.maybe_date(start),
                          "editorialBoardDraftSignOffDate": g.maybe_date(start),
                          "draftReleasedDate": g.maybe_date(start),
                          "pubcommChairOrDeputyOrDelegated": g.person() if r.random() < 0.7 else None,
                          "spokespersonOrDeputyOrDelegated": g.person() if r.random() < 0.7 else None,
                          "atlasMeetingDate": g.maybe_date(start, 0.3),
                          "pubcommSignOffDate": g.maybe_date(start, 0.6)}}
        if status in ("phase3_active", "phase3_closed", "submission_active", "submission_closed"):
            s2 = start + _dt.timedelta(days=r.randint(100, 300))
            rec["phase2"] = {"state": r.choice(list(STATUS_LABELS["paper"]["phase2.state"].values())),
                             "startDate": s2.isoformat(),
                             "editorialBoardDraft2SignOffDate": g.maybe_date(s2),
                             "draft2ReleasedDate": g.maybe_date(s2), "draft2SentToCernDate": g.maybe_date(s2),
                             "draft2CernSignOffDate": g.maybe_date(s2),
                             "paperClosureMeetingUrls": g.links("Closure meeting", 1),
                             "preliminaryPlotsAndResultsReleased": r.random() < 0.4,
                             "paperClosureDate": g.maybe_date(s2, 0.5),
                             "editorialBoardRevisedSignOffDate": g.maybe_date(s2, 0.5),
                             "pubcommChairOrDeputyOrDelegated": g.person(),
                             "pubcommChairOrDeputySignOffDate": g.maybe_date(s2),
                             "spokespersonDelegatedSignOffDate": g.maybe_date(s2, 0.3),
                             "spokespersonOrDeputySignOffDate": g.maybe_date(s2)}
            if status.startswith("submission"):
                s3 = s2 + _dt.timedelta(days=r.randint(30, 200))
                tz = r.choice(["+01:00", "+02:00"])

                def adt(p: float = 0.7, base=s3) -> str | None:
                    return (f"{g.date(base, 200).isoformat()}T{r.randint(8, 18):02d}:00:00{tz}"
                            if r.random() < p else None)
                rec["publicationPhase"] = {
                    "state": r.choice(list(STATUS_LABELS["paper"]["publicationPhase.state"].values())),
                    "startDate": s3.isoformat(),
                    "arXivUrls": [{"label": f"arXiv:{str(s3.year)[2:]}{s3.month:02d}.{r.randint(10000, 29999)}",
                                   "url": f"https://arxiv.org/abs/{str(s3.year)[2:]}{s3.month:02d}.{r.randint(10000, 29999)}"}]
                    if r.random() < 0.6 else [],
                    "cernPreprintUrls": [{"label": f"CERN-EP-{s3.year}-{r.randint(1, 300):03d}", "url": g.cds_url()}]
                    if r.random() < 0.6 else [],
                    "finalTitleTex": f"{full} with the ATLAS detector" if r.random() < 0.5 else None,
                    "finalSubmissionJournal": r.choice([None, "Phys. Rev. D", "JHEP", "Eur. Phys. J. C",
                                                        "Phys. Lett. B", "Phys. Rev. Lett."]),
                    "arXivSubmissionDate": adt(),
                    "physicsBriefingUrls": g.links("Briefing", 1),
                    "firstRefereeReportDate": adt(0.5),
                    "journalAcceptanceDate": g.maybe_date(s3, 0.4),
                    "firstProofDate": adt(0.3),
                    "finalJournalPublicationUrls": [{"label": "Journal", "url": f"https://doi.org/10.1007/JHEP{r.randint(1, 12):02d}({s3.year}){r.randint(1, 300):03d}"}]
                    if r.random() < 0.3 else [],
                    "publishedOnlineDate": adt(0.3)}
        papers.append(rec)

    conf_final_seq: dict[int, int] = {}
    confnotes = []
    for idx in children(n_confnotes):
        ana = analyses[idx]
        lead = ana["groups"]["leadingGroup"]["name"]
        _, _, year, nn = ana["referenceCode"].split("-")
        tmp = f"CONF-{lead}-{year}-{nn}"
        status = r.choice(list(STATUS_LABELS["confnote"]["status"]))
        final = None
        if status == "phase1_closed" or (status == "analysis_closed" and r.random() < 0.5):
            conf_final_seq[int(year)] = conf_final_seq.get(int(year), 0) + 1
            final = f"ATLAS-CONF-{year}-{conf_final_seq[int(year)]:03d}"
        ana["relatedPublications"].append({"referenceCode": tmp, "type": "CONF note"})
        start = _dt.date.fromisoformat(ana["creationDate"]) + _dt.timedelta(days=r.randint(30, 300))
        _short, full = g.title()
        rec = {"temporaryReferenceCode": tmp, "finalReferenceCode": final,
               "status": STATUS_LABELS["confnote"]["status"][status],
               "shortTitle": ana["shortTitle"], "publicShortTitle": ana["publicShortTitle"], "fullTitle": full,
               "groups": ana["groups"], "documentation": g.documentation(tmp, lead, repos=r.random() < 0.3),
               "analysisTeam": g.team(start, analysis=False),
               "metadata": {k: v for k, v in ana["metadata"].items()
                            if k in ("collisions", "keywords", "statisticalTools", "mvaMlTools")},
               "relatedAnalysis": {"referenceCode": ana["referenceCode"], "type": "Analysis"},
               "supersededBy": ([{"referenceCode": f"{lead}-{year}-{nn}", "type": "Paper"}]
                                if f"{lead}-{year}-{nn}" in {p["referenceCode"] for p in ana["relatedPublications"]}
                                else []),
               "phase1": {"state": r.choice(list(STATUS_LABELS["confnote"]["phase1.state"].values())),
                          "startDate": start.isoformat(), "draftCdsUrl": g.cds_url() if r.random() < 0.8 else None,
                          "editorialBoard": g.board(),
                          "editorialBoardFormedDate": g.maybe_date(start),
                          "presentationDate": g.maybe_date(start, 0.5),
                          "pgcApprovalDate": g.maybe_date(start),
                          "editorialBoardDraftSignOffDate": g.maybe_date(start),
                          "firstSignOffResponsible": g.person() if r.random() < 0.7 else None,
                          "secondSignOffResponsible": g.person() if r.random() < 0.6 else None,
                          "firstSignOffDate": g.maybe_date(start, 0.6),
                          "secondSignOffDate": g.maybe_date(start, 0.5),
                          "publicWebPageUrlForFiguresAndTables":
                              f"https://atlas.web.cern.ch/Atlas/GROUPS/PHYSICS/CONFNOTES/{final}" if final else None,
                          "releaseDate": g.maybe_date(start, 0.5) if final else None}}
        confnotes.append(rec)

    pub_final_seq: dict[tuple[str, int], int] = {}
    pubnotes = []
    for idx in children(n_pubnotes):
        ana = analyses[idx]
        lead = ana["groups"]["leadingGroup"]["name"]
        _, _, year, nn = ana["referenceCode"].split("-")
        tmp = f"PUB-{lead}-{year}-{nn}"
        status = r.choice(list(STATUS_LABELS["pubnote"]["status"]))
        final = None
        if status == "phase1_closed":
            prefix = r.choice(PHYSICS_PUB_PREFIXES)
            key = (prefix, int(year))
            pub_final_seq[key] = pub_final_seq.get(key, 0) + 1
            final = f"{prefix}-{year}-{pub_final_seq[key]:03d}"
        ana["relatedPublications"].append({"referenceCode": tmp, "type": "PUB note"})
        start = _dt.date.fromisoformat(ana["creationDate"]) + _dt.timedelta(days=r.randint(30, 300))
        _short, full = g.title()
        readers = []
        for k in range(r.randint(1, 3)):
            p = g.person()
            p["isFirstReader"] = k == 0
            p["isSecondReader"] = k == 1
            readers.append(p)
        rec = {"temporaryReferenceCode": tmp, "finalReferenceCode": final,
               "status": STATUS_LABELS["pubnote"]["status"][status] if r.random() < 0.95 else None,
               "shortTitle": ana["shortTitle"], "publicShortTitle": ana["publicShortTitle"], "fullTitle": full,
               "groups": ana["groups"], "documentation": g.documentation(tmp, lead, repos=False),
               "analysisTeam": g.team(start, analysis=False),
               "metadata": {k: v for k, v in ana["metadata"].items()
                            if k in ("collisions", "keywords", "statisticalTools", "mvaMlTools")},
               "relatedAnalysis": {"referenceCode": ana["referenceCode"], "type": "Analysis"},
               "supersededBy": ([{"referenceCode": f"{lead}-{year}-{nn}", "type": "Paper"}]
                                if f"{lead}-{year}-{nn}" in {p["referenceCode"] for p in ana["relatedPublications"]}
                                else []),
               "phase1": {"state": r.choice(list(STATUS_LABELS["pubnote"]["phase1.state"].values())),
                          "startDate": start.isoformat(), "draftCdsUrl": g.cds_url() if r.random() < 0.8 else None,
                          "readers": readers,
                          "presentationDate": g.maybe_date(start, 0.6),
                          "groupApprovalDate": g.maybe_date(start, 0.6),
                          "firstReaderDraftSignOffDate": g.maybe_date(start, 0.6),
                          "atlasCirculationDate": g.maybe_date(start, 0.6),
                          "proceedToSignOffDate": g.maybe_date(start, 0.5),
                          "firstReaderSignOffDate": g.maybe_date(start, 0.5),
                          "secondReaderSignOffDate": g.maybe_date(start, 0.5),
                          "publicWebPageUrlForFiguresAndTables":
                              f"https://atlas.web.cern.ch/Atlas/GROUPS/PHYSICS/PUBNOTES/{final}" if final else None,
                          "releaseDate": g.maybe_date(start, 0.5) if final else None}}
        pubnotes.append(rec)

    plots = []
    for lead, year, nn in _slots(r, n_plots, "plots"):
        code = f"PLOT-{lead}-{year}-{nn:02d}"
        start = _dt.date(year, 1, 1) + _dt.timedelta(days=r.randint(0, 364))
        status = r.choice(list(STATUS_LABELS["plot"]["status"]))
        short, full = g.title()
        rec = {"referenceCode": code, "status": STATUS_LABELS["plot"]["status"][status],
               "shortTitle": f"{short} plots", "fullTitle": f"Approval plots: {full}",
               "groups": g.groups(lead, plot=True),
               "documentation": {"supportingInternalDocuments": [
                   {"label": r.choice(["INT note", "Support note"]), "url": g.cds_url()}
                   for _ in range(r.randint(0, 2))]},
               "analysisTeam": g.team(start, analysis=False, plot=True),
               "metadata": {"collisions": g.collisions(year)},
               "supersededBy": ([{"referenceCode": f"{lead}-{min(year + 2, 2026)}-{r.randint(1, 99):02d}",
                                  "type": "Paper"}] if r.random() < 0.2 else []),
               "phase1": {"state": r.choice(list(STATUS_LABELS["plot"]["phase1.state"].values())),
                          "startDate": start.isoformat(),
                          "draftCdsUrl": g.cds_url() if r.random() < 0.7 else None,
                          "groupCoordinatorSignOff": r.choice([None, "Approved", "Pending"]),
                          "finalCdsReport": g.cds_url() if status == "phase1_closed" else None}}
        plots.append(rec)

    def summary_groups(gr: dict) -> dict:
        return {k: v for k, v in gr.items() if k in ("leadingGroup", "leadingSubgroup", "subgroups")}

    publications = []
    for a in analyses:
        publications.append({"referenceCode": a["referenceCode"], "type": "Analysis", "status": a["status"],
                             "shortTitle": a["shortTitle"], "groups": summary_groups(a["groups"])})
    for p in papers:
        publications.append({"referenceCode": p["referenceCode"], "type": "Paper", "status": p["status"],
                             "shortTitle": p["shortTitle"], "groups": summary_groups(p["groups"])})
    for kind, notes in (("CONF note", confnotes), ("PUB note", pubnotes)):
        for n in notes:
            publications.append({"temporaryReferenceCode": n["temporaryReferenceCode"],
                                 "finalReferenceCode": n["finalReferenceCode"], "type": kind,
                                 "status": n["status"], "shortTitle": n["shortTitle"],
                                 "groups": summary_groups(n["groups"])})

    leading = [{"name": name} for name in sorted(GROUPS)]
    subgroups = [{"name": f"{lead}-{topic}"} for lead in sorted(GROUPS) for topic in GROUPS[lead]]
    return GlanceData(analysis=analyses, paper=papers, confnote=confnotes, pubnote=pubnotes, plot=plots,
                      publication=publications, leadinggroup=leading, subgroup=subgroups, trigger=triggers)
