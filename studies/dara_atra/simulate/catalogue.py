"""Vocabulary of the synthetic export: how investigators write things, and how the (illustrative) coding reads.

MedDRA coding here is ILLUSTRATIVE: lowest-level / preferred terms and SOC names with codes as we know them from
public MedDRA-coded listings; HLT/HLGT are left blank (not coded in this export).  It is not a licensed dictionary
extract and must not be used as one.
"""

from __future__ import annotations

# -- adverse events ----------------------------------------------------------------------------------------------
# key -> verbatim variants, LLT, LLT code, PT, PT code, SOC, SOC code
SOC_BLOOD = ("Blood and lymphatic system disorders", 10005329)
SOC_INFECT = ("Infections and infestations", 10021881)
SOC_GENERAL = ("General disorders and administration site conditions", 10018065)
SOC_NERVOUS = ("Nervous system disorders", 10029205)
SOC_INJURY = ("Injury, poisoning and procedural complications", 10022117)
SOC_VASCULAR = ("Vascular disorders", 10047065)
SOC_NEOPLASM = ("Neoplasms benign, malignant and unspecified (incl cysts and polyps)", 10029104)

AE_TERMS: dict[str, dict] = {
    "anaemia": dict(verbatim=("Anemia", "anaemia", "ANEMIA", "Anemie"), pt=("Anaemia", 10002034), soc=SOC_BLOOD),
    "thrombocytopenia": dict(verbatim=("Thrombocytopenia", "thrombocytopenie", "Low platelets"),
                             pt=("Thrombocytopenia", 10043554), soc=SOC_BLOOD),
    "neutropenia": dict(verbatim=("Neutropenia", "neutropenie", "Neutropenia grade"), pt=("Neutropenia", 10029354),
                        soc=SOC_BLOOD),
    "febrile_neutropenia": dict(verbatim=("Febrile neutropenia", "Neutropenic fever"),
                                pt=("Febrile neutropenia", 10016288), soc=SOC_BLOOD),
    "irr": dict(verbatim=("Infusion related reaction", "IRR daratumumab", "Infusion reaction", "IRR"),
                pt=("Infusion related reaction", 10051792), soc=SOC_INJURY),
    "urti": dict(verbatim=("Upper respiratory tract infection", "URTI", "Common cold", "Bovenste luchtweginfectie"),
                 pt=("Upper respiratory tract infection", 10046306), soc=SOC_INFECT),
    "pneumonia": dict(verbatim=("Pneumonia", "pneumonie", "Lower respiratory tract infection / pneumonia"),
                      pt=("Pneumonia", 10035664), soc=SOC_INFECT),
    "gastroenteritis": dict(verbatim=("Gastroenteritis", "Gastro-enteritis", "Infectious diarrhoea"),
                            pt=("Gastroenteritis", 10017888), soc=SOC_INFECT),
    "uti": dict(verbatim=("Urinary tract infection", "UTI", "Cystitis"), pt=("Urinary tract infection", 10046571),
                soc=SOC_INFECT),
    "cellulitis": dict(verbatim=("Cellulitis", "Erysipelas", "Skin infection lower leg"), pt=("Cellulitis", 10007882),
                       soc=SOC_INFECT),
    "eye_infection": dict(verbatim=("Eye infection",), pt=("Eye infection", 10015929), soc=SOC_INFECT),
    "tooth_infection": dict(verbatim=("Tooth infection", "Dental abscess / tooth infection"),
                            pt=("Tooth infection", 10048762), soc=SOC_INFECT),
    "cmv": dict(verbatim=("CMV infection", "Cytomegalovirus reactivation"), pt=("Cytomegalovirus infection", 10011831),
                soc=SOC_INFECT),
    "picc_infection": dict(verbatim=("PICC line infection",), pt=("Device related infection", 10064687),
                           soc=SOC_INFECT),
    "oral_candidiasis": dict(verbatim=("Candida stomatitis",), pt=("Oral candidiasis", 10030963), soc=SOC_INFECT),
    "sinusitis": dict(verbatim=("Sinusitis",), pt=("Sinusitis", 10040753), soc=SOC_INFECT),
    "infection_nos": dict(verbatim=("Infection, no focus found", "Fever, infection without focus"),
                          pt=("Infection", 10021789), soc=SOC_INFECT),
    "headache": dict(verbatim=("Headache", "Headache (ATRA)", "hoofdpijn"), pt=("Headache", 10019211), soc=SOC_NERVOUS),
    "dvt": dict(verbatim=("Deep vein thrombosis left leg", "DVT"), pt=("Deep vein thrombosis", 10051055),
                soc=SOC_VASCULAR),
    "bcc": dict(verbatim=("Basal cell carcinoma nose",), pt=("Basal cell carcinoma", 10004146), soc=SOC_NEOPLASM),
    "mesothelioma": dict(verbatim=("Mesothelioma",), pt=("Mesothelioma", 10027406), soc=SOC_NEOPLASM),
    "fatigue": dict(verbatim=("Fatigue", "Tiredness", "Vermoeidheid"), pt=("Fatigue", 10016256), soc=SOC_GENERAL),
    "chest_pain": dict(verbatim=("Non-cardiac chest pain",), pt=("Non-cardiac chest pain", 10062501),
                       soc=SOC_GENERAL),
    "sudden_death": dict(verbatim=("Sudden death at home",), pt=("Sudden death", 10042434), soc=SOC_GENERAL),
}

# Table 2 of the paper as (term key, grade class, count) per part.  Part B counts are for the RP2D set (44).
# Grade class "1" is used only for infusion-related reactions (collected at any grade).
AE_PART_A = [
    ("anaemia", "2", 11), ("anaemia", "3-4", 8), ("thrombocytopenia", "2", 9), ("thrombocytopenia", "3-4", 11),
    ("neutropenia", "2", 13), ("neutropenia", "3-4", 9), ("febrile_neutropenia", "3-4", 1),
    ("irr", "2", 12), ("irr", "1", 10),
    ("headache", "2", 1), ("dvt", "2", 1), ("bcc", "3-4", 1), ("mesothelioma", "3-4", 1),
    ("fatigue", "2", 6), ("fatigue", "3-4", 1),
]
INFECTIONS_PART_A = [
    ("urti", "2", 14), ("pneumonia", "2", 3), ("pneumonia", "3-4", 4), ("gastroenteritis", "2", 2),
    ("gastroenteritis", "3-4", 3), ("uti", "2", 1), ("cellulitis", "2", 4), ("cellulitis", "3-4", 1),
    ("eye_infection", "2", 1), ("tooth_infection", "2", 1), ("cmv", "3-4", 1), ("picc_infection", "3-4", 1),
    ("tooth_infection", "3-4", 1),
]
AE_PART_B = [
    ("anaemia", "2", 21), ("anaemia", "3-4", 3), ("thrombocytopenia", "2", 3), ("thrombocytopenia", "3-4", 6),
    ("neutropenia", "2", 4), ("neutropenia", "3-4", 5), ("fatigue", "2", 3), ("fatigue", "3-4", 1),
]
INFECTIONS_PART_B = [
    ("urti", "2", 14), ("pneumonia", "2", 2), ("pneumonia", "3-4", 5), ("gastroenteritis", "2", 1), ("uti", "2", 7),
    ("uti", "3-4", 1), ("cellulitis", "2", 1), ("oral_candidiasis", "2", 1), ("sinusitis", "2", 1),
    ("infection_nos", "2", 1),
]
# Supportive care (patients), Table 2 footnotes: (type, part, n, linked AE term)
SUPPORT = [
    ("Red blood cell transfusion", "A", 16, "anaemia"), ("Red blood cell transfusion", "B", 11, "anaemia"),
    ("Platelet transfusion", "A", 6, "thrombocytopenia"), ("Platelet transfusion", "B", 4, "thrombocytopenia"),
    ("G-CSF", "A", 12, "neutropenia"), ("G-CSF", "B", 6, "neutropenia"),
]
SUPPORT_WRITTEN = {"Red blood cell transfusion": ("Red blood cell transfusion", "RBC transfusion", "Erythrocyte transfusion"),
                   "Platelet transfusion": ("Platelet transfusion",),
                   "G-CSF": ("G-CSF", "Filgrastim (G-CSF)")}

# -- response ----------------------------------------------------------------------------------------------------
LEVELS = {"NE": -1, "PD": 0, "SD": 1, "MR": 2, "PR": 3, "VGPR": 4, "CR": 5}
RESPONSE_TEXT = {  # level -> (abbreviation, as written in full)
    -1: ("NE", "Not evaluable"), 0: ("PD", "Progressive disease"), 1: ("SD", "Stable disease"),
    2: ("MR", "Minimal response"), 3: ("PR", "Partial response"), 4: ("VGPR", "Very good partial response"),
    5: ("CR", "Complete response"),
}

REASON_TEXT = {
    "C1PD": "PD after first cycle of Part A",
    "C2MR": "Less than MR after second cycle of Part A",
    "C3PR": "Less than PR after third cycle of Part A",
    "RESP": "PD after initial response (>=PR) to daratumumab monotherapy",
}

# -- prior therapy -----------------------------------------------------------------------------------------------
# coded name -> (class, names as written, typical position in the treatment history (0 first, 1 last))
DRUGS: dict[str, tuple[str, tuple[str, ...], float]] = {
    "THALIDOMIDE": ("IMiD", ("Thalidomide", "thalidomide", "Thalidomide Celgene"), 0.1),
    "BORTEZOMIB": ("PI", ("Bortezomib", "Velcade", "bortezomib"), 0.2),
    "LENALIDOMIDE": ("IMiD", ("Lenalidomide", "Revlimid", "lenalidomide"), 0.45),
    "IXAZOMIB": ("PI", ("Ixazomib", "Ninlaro"), 0.7),
    "CARFILZOMIB": ("PI", ("Carfilzomib", "Kyprolis"), 0.75),
    "POMALIDOMIDE": ("IMiD", ("Pomalidomide", "Imnovid", "pomalidomide"), 0.8),
    "ELOTUZUMAB": ("Anti-SLAMF7 antibody", ("Elotuzumab", "Empliciti"), 0.85),
    "DURVALUMAB": ("Anti-PD-L1 antibody", ("Durvalumab", "Durvalumab (MEDI4736)"), 0.9),
    "DARATUMUMAB": ("Anti-CD38 antibody", ("Daratumumab (GEN501)", "daratumumab GEN501 study"), 0.5),
    "MELPHALAN": ("Alkylator", ("Melphalan", "Alkeran", "high-dose melphalan (HDM)"), 0.0),
    "CYCLOPHOSPHAMIDE": ("Alkylator", ("Cyclophosphamide", "Endoxan", "cyclofosfamide"), 0.5),
    "DEXAMETHASONE": ("Steroid", ("Dexamethasone", "dexamethason", "Dexa"), 0.5),
    "PREDNISONE": ("Steroid", ("Prednisone", "prednison"), 0.5),
}
IMIDS = ("THALIDOMIDE", "LENALIDOMIDE", "POMALIDOMIDE")
PIS = ("BORTEZOMIB", "CARFILZOMIB", "IXAZOMIB")

# -- subsequent therapy (Table 3, RP2D patients with a first subsequent regimen) ---------------------------------
SUBSEQUENT = [
    ("Pomalidomide-dexamethasone", 15), ("Pomalidomide-cyclophosphamide-dexamethasone", 6),
    ("Pomalidomide-prednisone", 2), ("Lenalidomide-cyclophosphamide-prednisone", 2),
    ("Iberdomide +/- dexamethasone", 10), ("Bortezomib-cyclophosphamide-dexamethasone", 1),
    ("Carfilzomib-dexamethasone", 1), ("Elotuzumab-pomalidomide-dexamethasone", 1),
]
LATER_LINES = [("Bispecific antibody (clinical trial)", 5), ("CAR T-cell therapy (clinical trial)", 2)]

# -- local laboratory --------------------------------------------------------------------------------------------
# key -> (LBTEST as written, unit, decimals, Table 1 row in facts.yaml or None)
LAB_TESTS = {
    "ANC": ("Absolute neutrophil count", "10^9/L", 2, "ANC_1e9_per_L"),
    "HGB": ("Hemoglobin", "mmol/L", 1, "hemoglobin_mmol_per_L"),
    "PLT": ("Platelets", "10^9/L", 0, "platelets_1e9_per_L"),
    "CREAT": ("Creatinine", "umol/L", 0, "creatinine_umol_per_L"),
    "CA": ("Calcium", "mmol/L", 2, None),
    "ALB": ("Albumin", "g/L", 0, None),
    "LDH": ("LDH", "U/L", 0, "LDH_U_per_L"),
    "BMPC": ("Plasma cells in bone marrow biopsy", "%", 0, None),
}

CYTO_ABN = ("t(4;14)", "t(14;16)", "t(14;20)", "del(17p)", "monosomy 17", "amp(1q)", "del(1p)", "del(13q)")
