"""Generate benchmark corpora with pydicom (never committed: benchmarks/corpus/ is ignored).

Small files: ~1000 files of 40-200 KB built from pydicom's CT_small/MR_small with realistic
PHI, a GE private block, a Siemens-style private block and nested sequences (referenced
series, procedure codes, an other-patient-IDs sequence with names and IDs inside).
Large files: ~20 multi-frame files of 20-50 MB (pixel data dominates).
With ``--implicit``, the same files in Implicit VR Little Endian (the default transfer syntax of
DICOM networking, so of archives filled by C-STORE) go to ``small-implicit`` / ``large-implicit``.

    python benchmarks/corpus.py [--small 1000] [--large 20] [--implicit] [--out benchmarks/corpus]
"""

from __future__ import annotations

import argparse
import os
import random
from pathlib import Path

import pydicom
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import ImplicitVRLittleEndian, generate_uid

FIRST = ["ANNA", "JOHN", "MARIA", "WEI", "FATIMA", "OLUWASEUN", "JOSE", "ELENA", "ARJUN", "SARA"]
LAST = ["SMITH", "GARCIA", "NGUYEN", "MUELLER", "OKAFOR", "ROSSI", "KOWALSKI", "SATO", "DUBOIS"]


def person(rng: random.Random) -> str:
    return f"{rng.choice(LAST)}^{rng.choice(FIRST)}"


def add_phi(ds: Dataset, rng: random.Random, patient: int, study: int, series: int) -> None:
    ds.PatientName = person(rng)
    ds.PatientID = f"MRN{patient:07d}"
    ds.PatientBirthDate = f"{rng.randint(1930, 2015)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    ds.PatientSex = rng.choice("MFO")
    ds.PatientAddress = f"{rng.randint(1, 999)} Main Street^Springfield"
    ds.PatientTelephoneNumbers = f"555-{rng.randint(1000, 9999)}"
    ds.OtherPatientIDs = f"ALT{patient:06d}"
    ds.InstitutionName = "General Hospital"
    ds.InstitutionAddress = "1 Hospital Road"
    ds.ReferringPhysicianName = person(rng)
    ds.OperatorsName = person(rng)
    ds.PerformingPhysicianName = person(rng)
    ds.AccessionNumber = f"ACC{study:08d}"
    ds.StudyID = str(study)
    ds.StudyDescription = "CT CHEST W CONTRAST"
    ds.SeriesDescription = f"AXIAL {series}"
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = "20240117"
    ds.StudyTime = "101530.123456"
    ds.AcquisitionDateTime = "20240117101530.123456+0100"
    ds.StudyInstanceUID = f"1.2.826.0.1.3680043.8.498.{study}"
    ds.SeriesInstanceUID = f"1.2.826.0.1.3680043.8.498.{study}.{series}"
    ds.SOPInstanceUID = generate_uid(entropy_srcs=[str(rng.random())])
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.FrameOfReferenceUID = f"1.2.826.0.1.3680043.8.498.{study}.1"
    ds.DeviceSerialNumber = f"SN{rng.randint(10000, 99999)}"
    ds.StationName = "CT01"
    ds.PatientWeight = f"{rng.uniform(40, 120):.1f}"
    ds.PatientAge = f"{rng.randint(1, 99):03d}Y"

    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = "RPID16", "RADLEX", "CT CHEST"
    ds.ProcedureCodeSequence = Sequence([code])
    other = Dataset()
    other.PatientID = f"OLD{patient:06d}"
    other.IssuerOfPatientID = "OLDHOSP"
    other.TypeOfPatientID = "TEXT"
    ds.OtherPatientIDsSequence = Sequence([other])
    referenced = []
    for index in range(3):
        item = Dataset()
        item.SeriesInstanceUID = f"1.2.826.0.1.3680043.8.498.{study}.{index + 1}"
        image = Dataset()
        image.ReferencedSOPClassUID = ds.SOPClassUID
        image.ReferencedSOPInstanceUID = generate_uid(entropy_srcs=[str(rng.random())])
        item.ReferencedImageSequence = Sequence([image])
        referenced.append(item)
    ds.ReferencedSeriesSequence = Sequence(referenced)

    ge = ds.private_block(0x0009, "GEMS_IDEN_01", create=True)
    ge.add_new(0x01, "LO", "CT01_OC0")
    ge.add_new(0x04, "SH", "GE_SUITE")
    siemens = ds.private_block(0x0029, "SIEMENS CSA HEADER", create=True)
    siemens.add_new(0x08, "CS", "IMAGE NUM 4")
    siemens.add_new(0x10, "OB", bytes(rng.getrandbits(8) for _ in range(rng.randint(2000, 8000))))


def save(ds: Dataset, path: Path, implicit: bool) -> None:
    if implicit:
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    ds.save_as(path, enforce_file_format=True)


def small_files(out: Path, count: int, rng: random.Random, implicit: bool) -> None:
    templates = [pydicom.dcmread(get_testdata_file(name, download=False))
                 for name in ("CT_small.dcm", "MR_small.dcm")]
    out.mkdir(parents=True, exist_ok=True)
    for number in range(count):
        ds = templates[number % 2].copy()
        add_phi(ds, rng, patient=number // 50, study=number // 10, series=number % 10)
        # Vary the size between ~40 and ~200 KB with an extra block of (fake) pixel-like data.
        ds.add_new(0x00291020, "OB", bytes(rng.randint(0, 255) for _ in range(
            rng.randint(8_000, 150_000) // 64)) * 64)
        save(ds, out / f"{number:05d}.dcm", implicit)


def large_files(out: Path, count: int, rng: random.Random, implicit: bool) -> None:
    ds0 = pydicom.dcmread(get_testdata_file("CT_small.dcm", download=False))
    out.mkdir(parents=True, exist_ok=True)
    frame = ds0.Rows * ds0.Columns * 2
    for number in range(count):
        ds = ds0.copy()
        add_phi(ds, rng, patient=number, study=number, series=1)
        frames = rng.randint(20 * 2**20, 50 * 2**20) // frame
        ds.NumberOfFrames = frames
        ds.PixelData = os.urandom(frame) * frames
        save(ds, out / f"large{number:03d}.dcm", implicit)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--large", type=int, default=20)
    parser.add_argument("--out", default=str(Path(__file__).parent / "corpus"))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--implicit", action="store_true",
                        help="write Implicit VR Little Endian files (folders *-implicit)")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    out = Path(args.out)
    suffix = "-implicit" if args.implicit else ""
    if args.small:
        small_files(out / f"small{suffix}", args.small, rng, args.implicit)
    if args.large:
        large_files(out / f"large{suffix}", args.large, rng, args.implicit)
    print(f"corpus in {out}")


if __name__ == "__main__":
    main()
