// The webcam: started and stopped on request, and its current frame as a JPEG file (the form
// pictures are kept and classified in). Frames are taken when asked for, never queued. On a
// phone the camera facing away from the person is asked for first (it films what they point
// at); a switch goes through the device's cameras in turn (by device, since not every camera
// says which way it faces). A camera facing the person is shown mirrored, as a mirror.

const FRAME_SIDE = 320; // the longer side of a frame kept: more than the model's input needs
const QUALITY = 0.9;

/**
 * Why the camera could not start, for a person to read.
 * @param {any} e
 */
function explain(e) {
  switch (e?.name) {
    case 'NotAllowedError':
    case 'SecurityError':
      return 'The webcam is not allowed for this page: allow it in the browser’s site settings to record or classify from it. Pictures from files work all the same.';
    case 'NotFoundError':
    case 'OverconstrainedError':
      return 'No webcam was found. Pictures from files work all the same.';
    case 'NotReadableError':
      return 'The webcam is in use by another program, or failed to start. Pictures from files work all the same.';
    default:
      return `The webcam could not start (${e?.message ?? e}). Pictures from files work all the same.`;
  }
}

/** The device's cameras (their names once the person has allowed one). */
const cameras = async () => (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === 'videoinput');

/** @type {MediaTrackConstraints} */
const AWAY = { facingMode: { ideal: 'environment' } };

/** @param {HTMLVideoElement} video */
export function setupCamera(video) {
  /** @type {MediaStream | null} */
  let stream = null;
  /** @type {Promise<void> | null} */
  let starting = null; // a start waiting for the person's permission: a second one waits for it
  const canvas = document.createElement('canvas');
  /** The camera asked for: the one facing away from the person, or a device by its id. */
  let wanted = AWAY;

  return {
    get on() {
      return stream !== null;
    },
    /** Starts the camera; throws an Error whose message says why it could not. */
    start() {
      starting ??= (async () => {
        try {
          if (!navigator.mediaDevices?.getUserMedia) throw Object.assign(new Error('this browser gives this page no camera (it needs https or localhost)'), { name: 'TypeError' });
          const ask = () => navigator.mediaDevices.getUserMedia({ video: { ...wanted, width: { ideal: 640 }, height: { ideal: 480 } }, audio: false });
          stream = await ask().catch((e) => {
            // The camera chosen is gone (unplugged): the one asked for first instead.
            if (wanted === AWAY || (e?.name !== 'OverconstrainedError' && e?.name !== 'NotFoundError')) throw e;
            wanted = AWAY;
            return ask();
          });
          // A webcam that does not say which way it faces (most on computers) faces the person.
          video.classList.toggle('mirrored', (stream.getVideoTracks()[0]?.getSettings().facingMode ?? 'user') === 'user');
          video.srcObject = stream;
          video.hidden = false;
          await video.play();
        } catch (e) {
          this.stop();
          throw new Error(explain(e));
        } finally {
          starting = null;
        }
      })();
      return starting;
    },
    /** How many cameras this device has (known once one has started). */
    async count() {
      return (await cameras()).length;
    },
    /** Starts the device's next camera in place of the one on now. */
    async next() {
      if (starting) return starting;
      const all = await cameras();
      const now = stream?.getVideoTracks()[0]?.getSettings().deviceId;
      const next = all[(all.findIndex((d) => d.deviceId === now) + 1) % all.length];
      if (next) wanted = { deviceId: { exact: next.deviceId } };
      this.stop();
      await this.start();
    },
    stop() {
      for (const track of stream?.getTracks() ?? []) track.stop();
      stream = null;
      video.srcObject = null;
      video.hidden = true;
    },
    /**
     * The current frame as a JPEG Blob, or null while no frame is there yet.
     * @returns {Promise<Blob | null>}
     */
    async frame() {
      const { videoWidth: w, videoHeight: h } = video;
      if (!stream || !w || !h) return null;
      const scale = Math.min(1, FRAME_SIDE / Math.max(w, h));
      canvas.width = Math.round(w * scale);
      canvas.height = Math.round(h * scale);
      /** @type {CanvasRenderingContext2D} */ (canvas.getContext('2d')).drawImage(video, 0, 0, canvas.width, canvas.height);
      return new Promise((resolve) => canvas.toBlob(resolve, 'image/jpeg', QUALITY));
    },
  };
}
