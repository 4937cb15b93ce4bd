"""The calibrated course of every DARA-ATRA patient: the hand-built design the simulator starts from.

SYNTHETIC.  No patient-level data of the trial are public.  Each row below is one *invented* patient course, built so
that the published aggregates (Frerichs et al., Blood Adv 2021) come out of the raw records exactly (counts) or to the
printed precision (Kaplan-Meier medians).  How the numbers were chosen:

* Groups follow the paper's patient flow: 44 RP2D patients (8 phase-1 at 45 mg/m2 = stratum P45, 36 phase 2 = B2),
  6 phase-1 patients at 15/30 mg/m2 (L15, L30) and 13 never in Part B (N: 3 still on Part A, 8 ineligible,
  2 withdrew consent).
* Part A best response (a_best) and the route into Part B (route) give the paper's reasons 6/16/8/20 and the RP2D
  subgroups >=PR 18, SD/MR 20, PD 5, NE 1 (fact-sheet assumption).
* Time-to-event columns are in the analysis conventions of facts.yaml: L = Part B registration - first Part A
  infusion (days); T = PFS-B AVAL in days (event/censor date - registration + 1); O = OS-B AVAL in days (blank:
  alive at the cut).  PFS-AB = L + T and OS-AB = L + O.  Each median of facts.yaml is placed so that S(t) jumps over
  0.5 (ties of two events, never a flat segment at 0.5); the subgroup log-rank p-values were tuned with
  statsmodels.  a1 is the calendar date of the first Part A infusion (enrolment July 2016 - October 2017; phase-1
  Part B registrations before mid-June 2017, phase-2 registrations from July 2017).
* For the N group: L is the day (from the first infusion) Part A treatment ended and O the OS AVAL from the first
  infusion (blank: alive).

Columns: key, stratum, a_best, route, L, T, b_best, b_end, O, a1.
route: C1PD (PD in cycle 1), C2MR (<MR after cycle 2), C3PR (<PR after cycle 3), RESP (PD after >=PR);
       N only: ONA (still on Part A), INE_RESP / INE_C2 / INE_C1 (ineligible for Part B after that course), WD (withdrew).
b_end: PD, ONGOING, PATIENT (patient decision), INVEST (investigator decision, PD found after stopping), DEATH.
"""

from __future__ import annotations

import io

import pandas as pd

PROFILES_CSV = """\
key,stratum,a_best,route,L,T,b_best,b_end,O,a1
r1,P45,PR,RESP,150,36,PD,PD,1010,2016-12-01
r2,B2,PR,RESP,202,38,PD,PD,950,2016-12-20
r3,B2,PR,RESP,420,41,PD,PD,430,2016-09-10
r4,B2,VGPR,RESP,700,44,PD,PD,150,2016-08-15
r5,P45,PR,RESP,130,58,SD,PD,,2017-01-20
r6,B2,PR,RESP,330,61,SD,PD,800,2016-10-05
r7,B2,PR,RESP,465,89,SD,PD,540,2016-11-10
r8,P45,PR,RESP,250,95,SD,PD,900,2016-08-25
r9,B2,PR,RESP,360,103,SD,PD,581,2017-01-05
r10,B2,VGPR,RESP,800,103,SD,PD,310,2016-07-20
r11,B2,PR,RESP,436,118,SD,PD,672,2016-10-20
r12,B2,PR,RESP,380,145,SD,PD,581,2017-02-10
r13,B2,PR,RESP,420,170,SD,PD,688,2016-12-12
r14,B2,VGPR,RESP,560,201,SD,PD,298,2016-09-25
r15,B2,VGPR,RESP,600,232,SD,PD,258,2016-11-30
r16,B2,VGPR,RESP,900,290,SD,PD,330,2016-07-12
r17,B2,PR,RESP,520,380,SD,PD,500,2017-03-15
r18,B2,CR,RESP,487,,VGPR,ONGOING,,2016-08-01
s1,B2,SD,C2MR,60,20,NE,DEATH,20,2017-06-20
s2,P45,SD,C2MR,58,33,PD,PD,200,2017-02-10
s3,P45,SD,C2MR,62,35,PD,PD,280,2017-01-05
s4,B2,SD,C3PR,88,36,PD,PD,350,2017-07-01
s5,B2,SD,C2MR,57,38,PD,PD,410,2017-08-10
s6,B2,SD,C2MR,61,40,PD,PD,460,2017-06-01
s7,B2,SD,C3PR,90,42,PD,PD,490,2017-05-20
s8,B2,SD,C2MR,63,44,PD,PD,530,2017-09-01
s9,B2,SD,C2MR,59,59,SD,PD,560,2017-07-15
s10,B2,MR,C3PR,86,85,SD,PD,590,2017-06-10
s11,B2,SD,C3PR,91,85,SD,PD,590,2017-08-20
s12,B2,SD,C2MR,64,100,SD,PD,599,2017-05-10
s13,B2,SD,C2MR,59,105,SD,PD,604,2017-09-20
s14,B2,SD,C2MR,60,142,SD,PATIENT,,2017-06-25
s15,B2,MR,C3PR,87,170,SD,PD,720,2017-10-10
s16,P45,SD,C2MR,62,185,SD,INVEST,780,2017-03-01
s17,B2,MR,C3PR,89,200,MR,PD,950,2017-04-25
s18,B2,SD,C2MR,58,230,SD,PATIENT,,2017-05-15
s19,B2,MR,C3PR,92,320,MR,PD,1100,2017-04-15
s20,B2,MR,C2MR,65,,VGPR,ONGOING,,2017-05-05
p1,P45,PD,C1PD,38,29,PD,PD,210,2017-01-25
p2,B2,PD,C1PD,42,33,PD,PD,420,2017-07-05
p3,P45,PD,C1PD,36,40,PD,PD,,2017-02-20
p4,B2,PD,C1PD,49,58,SD,PD,545,2017-09-10
p5,B2,PD,C2MR,80,62,SD,PD,1000,2017-06-01
n1,B2,NE,C1PD,61,60,SD,PD,450,2017-10-05
d1,L15,PD,C1PD,37,29,PD,PD,240,2016-07-06
d2,L15,SD,C2MR,60,85,SD,PD,400,2016-07-14
d3,L15,PR,RESP,100,113,SD,PD,700,2016-07-08
d4,L30,SD,C2MR,58,57,SD,PD,350,2016-09-20
d5,L30,MR,C3PR,88,240,MR,PD,900,2016-09-05
d6,L30,VGPR,RESP,160,150,SD,PD,,2016-08-01
o1,N,CR,ONA,,,,,,2016-09-01
o2,N,CR,ONA,,,,,,2017-02-15
o3,N,VGPR,ONA,,,,,,2017-06-20
i1,N,VGPR,INE_RESP,420,,,,900,2016-07-25
i2,N,VGPR,INE_RESP,300,,,,,2017-04-10
i3,N,PR,INE_RESP,200,,,,600,2016-10-12
i4,N,SD,INE_C2,57,,,,400,2017-01-18
i5,N,SD,INE_C2,57,,,,250,2017-08-08
i6,N,PD,INE_C1,36,,,,120,2016-11-22
i7,N,PD,INE_C1,40,,,,300,2017-03-28
i8,N,PD,INE_C1,38,,,,,2017-10-20
w1,N,NE,WD,18,,,,,2017-01-30
w2,N,NE,WD,24,,,,,2017-09-12
"""

# Which subsequent-therapy, AE and other allocations may use which patients is decided in design.py from these
# columns; nothing else about a patient is fixed here.


def load_profiles() -> pd.DataFrame:
    """The 63 calibrated patient courses (one row per patient, in the order above)."""
    frame = pd.read_csv(io.StringIO(PROFILES_CSV), dtype={"key": str, "stratum": str, "a_best": str, "route": str,
                                                          "b_best": str, "b_end": str, "a1": str})
    for col in ("L", "T", "O"):
        frame[col] = frame[col].astype("float64")
    return frame
