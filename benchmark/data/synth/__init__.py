"""The synthetic twin of Weld-4M: same layout and formats, a physical toy with a causal chain.

    synthesize(out, seed, size="quick", label=True) -> out

writes `<out>/<configuration folder>/<run id>/<run id>.avi|.flac|.csv`, `images/<stem>.jpg`
(5 views), `masks/<stem>.png` (one per view, 0/255) and `<out>/manifest.csv` (MANIFEST_COLUMNS).

Causal chain. Every sample has a recipe (weld type, steel, plate, set-points) and a recording
session: by default Weld-4M's own per-category recipes and category x day structure
(`confounds="real"`: the recipe and session shortcuts of the real data), or eight far-apart
configurations shared by every category and sessions joined at random (`confounds="none"`,
`CONFIGS`). Every session leaves its own nuisance in every modality (`sessions.Nuisance`: photo
lighting and pose, audio noise floor, video exposure, sensor offsets). One *process* draw per
sample (realised current, voltage, feed, speed, gas, arc on/off times) drives every process
modality: the weld-pool blob in the video (size and brightness ~ current*voltage, plate texture
scrolls with the travel speed), the arc hum in the audio
(pitch ~ voltage, loudness ~ current, broadband noise ~ heat input) and the sensor CSV
(current/voltage/feed/flow/pressure/cumulative wire). The *result*, the bead in the post-weld
photos, is a deterministic function of the same realised process (width ~ sqrt(heat input /
speed) / sqrt(feed ratio), height ~ feed / speed, ripple pitch ~ speed, heat-tint band ~ heat
input) plus small image noise. The configurations are far apart, so a bead normal for one
configuration is abnormal for another; code 12 (Process_Result_Mismatch) exploits exactly that:
its video/audio/sensor are a normal run of its configuration A (the manifest's), its photos are a
normal run of a partner configuration B of the same weld type (`PARTNER`; with real recipes, the
normal recipe of its weld type whose bead differs most).

Defects touch only the modalities of their row in `VISIBLE` (V video, A audio, S sensor, I image).
Every modality has its own random stream, `np.random.default_rng([seed, index, stream])`, and the
process / defect-event streams are separate too, so switching a defect off re-renders the other
modalities byte for byte: a modality outside a defect's row is *exactly* a normal draw of its
configuration *in the same session*: the nuisance is drawn from the session's own stream
`np.random.default_rng([seed, SESSION_STREAM, session])`, part of the sample's session, not of its
defect. `render_video/render_audio/render_sensor/render_images` take a `code` override for such
counterfactual re-renders (the tests use it).

Ground truth is only the manifest (category; the run id ends in the code) and the masks (every
image-visible defect region, never the label). The photos carry a paper label with the run id
printed on it (the deliberate leak of the real data); `label=False` leaves it out and changes
nothing else (only the JPGs differ).

Modules: `process` (configurations, sizes, sample plan, realised process, defect events, random
streams), `sessions` (Weld-4M's session table, the sessions' nuisance), one per modality
(`video`, `audio`, `sensor`, `images`) and `write` (files, manifest). The choices that are not
facts of the real data (media sizes and rates, duration, set-points in the manifest, sizes,
session days and nuisance ranges) are documented in the module that makes them.
"""
from .audio import AUDIO_RATE, render_audio, write_audio
from .media import FULL_PHOTO_WH, FULL_SECONDS, FULL_VIDEO_WH, MEDIA
from .images import (BEAD_X0, BEAD_X1, BEAD_Y, CANVAS_H, CANVAS_W, IMG_H, IMG_W, LABEL_FONT,
                     LABEL_PAD_X, LABEL_PAD_Y, LABEL_SCALE, LABEL_THICKNESS, LABEL_TOP_MIN, N_VIEWS,
                     PLATE_V0, PLATE_V1, PLATE_X0, PLATE_X1, Bead, bead_of, encode_jpg, encode_png,
                     label_text_size, render_images)
from .process import (CONFIGS, CONFOUND_MODES, DURATION_S, FEED_PER_A, FILLET_CFGS, FILLET_ONLY,
                      FOLDER_RUNS, MODALITY_LETTER, NON_FILLET_CFGS, NON_FILLET_ONLY, PARTNER,
                      PLAN_STREAM, S_AUDIO, S_EVENTS, S_IMAGE, S_META, S_PROCESS, S_PROCESS_B,
                      S_SENSOR, S_VIDEO, SIZES, TRAIN_SHARE_OF_NORMALS, VISIBLE, Config, Events,
                      Process, SampleSpec, draw_process, events_of, plan, process_of)
from .sessions import (SESSION_STREAM, Nuisance, lighting, nuisance_of, session_cells, session_day,
                       twin_sessions)
from .sensor import CSV_DT, OCV_V, WIRE_PER_FEED_S, render_sensor, sensor_csv
from .video import FPS, VIDEO_H, VIDEO_W, render_video, write_video
from .write import TWIN_VERSION, manifest_rows, synthesize, write_sample

__all__ = [
    # writing the twin
    "synthesize", "TWIN_VERSION", "write_sample", "manifest_rows", "MEDIA", "FULL_PHOTO_WH", "FULL_VIDEO_WH",
    "FULL_SECONDS",
    # plan, configurations, process
    "plan", "SampleSpec", "SIZES", "CONFOUND_MODES", "CONFIGS", "Config", "PARTNER", "VISIBLE",
    "MODALITY_LETTER", "FILLET_ONLY", "NON_FILLET_ONLY", "FILLET_CFGS", "NON_FILLET_CFGS",
    "TRAIN_SHARE_OF_NORMALS", "FOLDER_RUNS", "DURATION_S", "FEED_PER_A", "Process", "draw_process", "process_of", "Events",
    "events_of", "PLAN_STREAM", "S_PROCESS", "S_VIDEO", "S_AUDIO", "S_SENSOR", "S_IMAGE",
    "S_PROCESS_B", "S_EVENTS", "S_META",
    # sessions
    "twin_sessions", "session_cells", "session_day", "Nuisance", "lighting", "nuisance_of", "SESSION_STREAM",
    # modalities
    "render_video", "write_video", "FPS", "VIDEO_W", "VIDEO_H",
    "render_audio", "write_audio", "AUDIO_RATE",
    "render_sensor", "sensor_csv", "CSV_DT", "OCV_V", "WIRE_PER_FEED_S",
    "render_images", "encode_jpg", "encode_png", "Bead", "bead_of", "label_text_size", "IMG_W",
    "IMG_H", "CANVAS_W", "CANVAS_H", "N_VIEWS", "LABEL_FONT", "LABEL_SCALE", "LABEL_THICKNESS",
    "LABEL_PAD_X", "LABEL_PAD_Y", "LABEL_TOP_MIN", "BEAD_Y", "BEAD_X0", "BEAD_X1", "PLATE_X0",
    "PLATE_X1", "PLATE_V0", "PLATE_V1",
]
