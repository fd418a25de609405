"""The starter profile ``deidc create`` writes.

Flywheel's own ``fw deid create`` template removes PatientID, which is the tag Flywheel files
subjects by.  This one keeps every sorting tag usable (PatientID pseudonymised, Study/Series UIDs
hashed, descriptions kept), keeps the file meta's MediaStorageSOPInstanceUID in step with
SOPInstanceUID, shifts dates, removes private tags, and removes or blanks the identifying
attributes of the DICOM PS3.15 Basic Application Level Confidentiality Profile that matter
most.  It is a starting point, not a compliance guarantee; the comments say what to review,
and the header says what ``deidc conformance`` finds (filled in by :func:`deidc.api.starter_profile`,
which judges the text it writes).
"""

from __future__ import annotations

import secrets

SALT_PLACEHOLDER = "@SALT@"
# Where deidc.api writes what `deidc conformance` finds, in the starter and in the profile
# `deidc create --conformance` generates.
CONFORMANCE_PLACEHOLDER = "# @CONFORMANCE@"

TEMPLATE = """\
# A de-identification profile in Flywheel's format, written by `deidc create`.
# Check it with `deidc lint <this file>`; `deidc rule CODE` explains any finding.
# This is a starting point: review every rule against your data and your obligations.
# @CONFORMANCE@

name: deidc-starter
description: Pseudonymise, shift dates, drop private tags and identifying attributes.

# The de-id log records every value before and after. Give a path in a folder that exists
# (a bare file name fails in Flywheel), and keep the log private: it holds the original PHI.
# deid-log: ~/deid-logs/deid_log.csv

dicom:
  # Every `increment-date` rule shifts its date by this many days (negative: earlier).
  # Choose your own number and keep it secret: whoever knows it can undo the shift.
  date-increment: -17

  # Secret text mixed into every `hash` and `hashuid`, so that nobody can recompute a
  # pseudonym from a known PatientID or UID. `deidc create` drew it at random. Use the same
  # salt for every upload of one project (or pseudonyms and UIDs will not match across
  # uploads), and keep it out of public repositories. Keep it quoted.
  salt: '@SALT@'

  # Compute PatientAge from the original birth and study dates before the birth date is
  # blanked below; whole years only.
  patient-age-from-birthdate: true
  patient-age-units: Y

  # Delete every private (odd-group) element. To keep one, add a rule in the private form
  # (`name: (0009, "GEMS_IDEN_01", 04)` with `keep: true`): other forms do not survive this.
  remove-private-tags: true

  fields:
    # --- Sorting tags: Flywheel files uploads by these, so transform them, never remove them.
    # A salted hash gives each patient a stable pseudonym, and keeps patients apart.
    # (Uploading one subject at a time? `replace-with: <subject code>` works too.)
    - name: PatientID
      hash: true
    # hashuid keeps UIDs valid and distinct: studies and series stay apart.
    - name: StudyInstanceUID
      hashuid: true
    - name: SeriesInstanceUID
      hashuid: true
    # StudyDescription and SeriesDescription name sessions and acquisitions and are kept.
    # Read yours: if they hold names or dates, replace them (replace-with) per upload.

    # --- Other UIDs. SOPInstanceUID is copied in the file meta as MediaStorageSOPInstanceUID;
    # Flywheel leaves that copy unchanged unless a rule names it, which leaks the original UID.
    - name: SOPInstanceUID
      hashuid: true
    - name: MediaStorageSOPInstanceUID
      hashuid: true
    - name: FrameOfReferenceUID
      hashuid: true
    # UIDs inside sequences (ReferencedSOPInstanceUID...) need nested rules such as
    # `ReferencedImageSequence.*.ReferencedSOPInstanceUID`.

    # --- Dates, shifted by date-increment so that intervals between them are kept.
    - name: StudyDate
      increment-date: true
    - name: SeriesDate
      increment-date: true
    - name: AcquisitionDate
      increment-date: true
    - name: ContentDate
      increment-date: true
    # A date and time in one value; removed rather than shifted (partial values fail).
    - name: AcquisitionDateTime
      remove: true

    # --- Identifying attributes (DICOM PS3.15 Annex E, basic profile).
    # Attributes most images must carry (type 2) are blanked rather than removed.
    - name: PatientName
      replace-with: ''
    - name: PatientBirthDate
      replace-with: ''
    - name: AccessionNumber
      replace-with: ''
    - name: StudyID
      replace-with: ''
    - name: ReferringPhysicianName
      replace-with: ''
    # The rest are removed.
    - name: PatientBirthTime
      remove: true
    - name: OtherPatientIDsSequence
      remove: true
    - name: OtherPatientNames
      remove: true
    - name: PatientBirthName
      remove: true
    - name: PatientMotherBirthName
      remove: true
    - name: PatientAddress
      remove: true
    - name: PatientTelephoneNumbers
      remove: true
    - name: PatientTelecomInformation
      remove: true
    - name: IssuerOfPatientID
      remove: true
    - name: MilitaryRank
      remove: true
    - name: BranchOfService
      remove: true
    - name: CountryOfResidence
      remove: true
    - name: RegionOfResidence
      remove: true
    - name: PatientReligiousPreference
      remove: true
    - name: EthnicGroup
      remove: true
    - name: Occupation
      remove: true
    - name: PatientComments
      remove: true
    - name: AdditionalPatientHistory
      remove: true
    - name: ResponsiblePerson
      remove: true
    - name: ResponsibleOrganization
      remove: true
    - name: PatientInsurancePlanCodeSequence
      remove: true
    - name: ReferringPhysicianAddress
      remove: true
    - name: ReferringPhysicianTelephoneNumbers
      remove: true
    - name: ReferringPhysicianIdentificationSequence
      remove: true
    - name: PhysiciansOfRecord
      remove: true
    - name: PhysiciansOfRecordIdentificationSequence
      remove: true
    - name: PerformingPhysicianName
      remove: true
    - name: PerformingPhysicianIdentificationSequence
      remove: true
    - name: NameOfPhysiciansReadingStudy
      remove: true
    - name: RequestingPhysician
      remove: true
    - name: OperatorsName
      remove: true
    - name: OperatorIdentificationSequence
      remove: true
    - name: RequestAttributesSequence
      remove: true
    - name: ImageComments
      remove: true
    - name: InstitutionName
      remove: true
    - name: InstitutionAddress
      remove: true
    - name: InstitutionalDepartmentName
      remove: true
    - name: StationName
      remove: true
    - name: DeviceSerialNumber
      remove: true
    # Earlier values of modified attributes, kept by some systems: the original PHI.
    - name: OriginalAttributesSequence
      remove: true
    # Older data may also carry retired attributes such as OtherPatientIDs (0010,1000) and
    # StudyComments (0032,4000); add rules for them if your archive has them.
"""


def new_salt() -> str:
    """A fresh random salt, for every profile ``deidc create`` writes."""
    return secrets.token_hex(16)


def starter_profile(salt: str | None = None) -> str:
    """The starter profile's text, with ``salt`` (a fresh random one by default) filled in; its
    conformance line is still the placeholder."""
    return TEMPLATE.replace(SALT_PLACEHOLDER, salt or new_salt())
