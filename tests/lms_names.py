"""Names of LMS downloads made the way the LMS makes them, for tests: Canvas's ContentZipper and Moodle's downloader.

Each rule cites where it is in the LMS's source (research notes with quotes: /work/helpers/lms-rules.md §1, §4).
"""

from __future__ import annotations

import re
import unicodedata


def _canvas_word(char: str) -> bool:
    """Ruby's [[:word:]] (Onigmo): Letter, Mark, Decimal_Number, Connector_Punctuation."""
    return unicodedata.category(char).startswith(("L", "M", "Nd", "Pc"))


def canvas_entry(sortable_name: str | None, user_id: int | None, attachment_id: int | None = None,
                 display_name: str | None = None, late: bool = False, anonymous_id: str | None = None,
                 kind: str = "upload") -> str:
    """The name of one entry of Canvas's "Download Submissions" zip.

    sortable_name: the student's ("Doe, Jane"), or a group's name for a group assignment; anonymous_id: under
    anonymous grading (then no name part). kind: "upload" (needs attachment_id, display_name), "text" or "url".
    """
    # instructure/canvas-lms lib/content_zipper.rb, ContentZipper#get_filename:
    #   id = @assignment.anonymize_students? ? "anon_#{submission.anonymous_id}" : submission.user_id
    #   users_name = get_user_name(students, submission) unless @assignment.anonymize_students?
    #   filename = [users_name, submission.late? ? "LATE" : nil, id].compact.join("_"); sanitize_file_name(filename)
    if anonymous_id is not None:
        parts = [None, "LATE" if late else None, f"anon_{anonymous_id}"]
    else:
        parts = [_sanitize_user_name(sortable_name), "LATE" if late else None, str(user_id)]
    # ContentZipper#sanitize_file_name: filename.gsub(/[^[[:word:]]]/, "")
    prefix = "".join(char for char in "_".join(part for part in parts if part is not None) if _canvas_word(char))
    if kind == "text":  # ContentZipper#add_text_or_url: "#{called}_text.html"
        return f"{prefix}_text.html"
    if kind == "url":  # ContentZipper#add_text_or_url: "#{called}_link.html"
        return f"{prefix}_link.html"
    # ContentZipper#add_upload_submission: "#{filename}_#{file.id}_#{sanitize_attachment_filename(file.display_name)}"
    # ContentZipper#sanitize_attachment_filename: filename.gsub(%r{[\x00/\\:*?"<>|]+}, "_")
    return f"{prefix}_{attachment_id}_{_ATTACHMENT_UNSAFE.sub('_', display_name)}"


_ATTACHMENT_UNSAFE = re.compile(r'[\x00/\\:*?"<>|]+')


def _sanitize_user_name(name: str) -> str:
    # ContentZipper#sanitize_user_name: user_name.gsub!(/_(\d+)_/, '\1'); user_name.gsub!(/^(\d+)$/, '\1');
    # user_name.downcase (Ruby's \d is ASCII digits; its downcase is Unicode's)
    return re.sub(r"_([0-9]+)_", r"\1", name).lower()


def canvas_resubmitted(display_name: str, times: int) -> str:
    """The display name of the `times`-th upload of a file whose name the student's submissions folder has already:
    instructure/canvas-lms app/models/attachment.rb, Attachment.make_unique_filename (modern):
    extension `filename[/(\\.[A-Za-z][A-Za-z0-9]*)*(\\.[A-Za-z0-9]*)$/]`, then "#{basename}-#{addition}#{extname}"."""
    match = re.search(r"(\.[A-Za-z][A-Za-z0-9]*)*(\.[A-Za-z0-9]*)$", display_name)
    extension = match.group(0) if match else ""
    return f"{display_name[:len(display_name) - len(extension)]}-{times}{extension}"


def moodle_entry(full_name: str, participant_id: int | None, file: str, folders: bool = True,
                 before_4_1: bool = False, plugin: str = "file") -> str:
    """The path of one file in Moodle's "Download all submissions" zip.

    full_name: as Moodle's fullname() gives it ("민준 김"), "Participant" (or the site language's word) under blind
    marking, or a team's group name with participant_id its group id (None: "Default group", no id).
    file: the student's path within their submission ("sub/data.csv"); kept whole in folders, its last part flat.
    """
    # moodle/moodle mod/assign/classes/downloader.php, downloader::get_student_prefix:
    #   clean_filename(str_replace('_', ' ', $fullname) . '_' . $this->manager->get_uniqueid_for_user($student->id))
    #   teams: clean_filename(str_replace('_', ' ', $groupname) . $groupinfo), $groupinfo = '_' . $submissiongroup->id
    prefix = _clean_filename(full_name.replace("_", " ") + ("" if participant_id is None else f"_{participant_id}"))
    subtype_type = f"assignsubmission_{plugin}"
    if folders:
        # downloader::load_submissionplugin_filelist: clean_filename($prefix . '_' . $subtype . '_' . $type)
        # . $file->get_filepath() . $zipfilename, then clean_param($pathfilename, PARAM_PATH)
        # (mod/assign/locallib.php before 4.1: clean_filename($prefix . '_' . $subtype . '_' . $type . '_'))
        folder = _clean_filename(f"{prefix}_{subtype_type}{'_' if before_4_1 else ''}")
        return "/".join([folder, *(_clean_filename(part) for part in file.split("/"))])
    # flat: clean_filename($prefix . '_' . $subtype . '_' . $type . '_' . $zipfilename)
    return _clean_filename(f"{prefix}_{subtype_type}_{file.split('/')[-1]}")


def _clean_filename(text: str) -> str:
    # moodle/moodle lib/moodlelib.php clean_param(PARAM_FILE): preg_replace('~[[:cntrl:]]|[&<>"`\|\':\\\\/]~u', '', …)
    return re.sub(r"[\x00-\x1f\x7f&<>\"`|':\\/]", "", text)
