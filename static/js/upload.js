// Uploading a bundle: the two-step upload (initiate → PUT with progress → finalize), or one multipart
// POST where the browser has no crypto.subtle to compute the SHA-256 (plain HTTP to a non-local host).
import { appPath, post, sendWithProgress } from "./api.js";

export async function sha256Hex(file) {
  const digest = await crypto.subtle.digest("SHA-256", await file.arrayBuffer());
  return [...new Uint8Array(digest)].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** fields: {version, platform, minNativeBuild?, targetVersions?, notes?}; onStep(text, fraction|null). */
export async function uploadBundle(slug, file, fields, onStep) {
  if (!(window.crypto && crypto.subtle)) {
    const form = new FormData();
    for (const [name, value] of Object.entries(fields)) form.append(name, String(value));
    form.append("file", file, file.name);
    onStep("Uploading", 0);
    return sendWithProgress("POST", appPath(slug, "/bundles"), form, {
      bearer: true, onProgress: (fraction) => onStep("Uploading", fraction),
    });
  }
  onStep("Computing SHA-256", null);
  const sha256 = await sha256Hex(file);
  const upload = await post(appPath(slug, "/bundles/initiate"), { ...fields, size: file.size, sha256 });
  onStep("Uploading", 0);
  await sendWithProgress("PUT", upload.uploadUrl, file, { onProgress: (fraction) => onStep("Uploading", fraction) });
  onStep("Checking the bundle", null);
  return post(appPath(slug, "/bundles/finalize"), { uploadId: upload.uploadId });
}
