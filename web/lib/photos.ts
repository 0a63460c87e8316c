// Photos on the reporter's phone: shrunk on the device before upload (a 12-megapixel camera file
// is 3–6 MB; 1,600 px on the longest side at quality 0.8 is a few hundred KB, which is what a
// crowded venue's uplink can carry), and the limits the console enforces before the server does.
export const MAX_PHOTOS = 4;
export const MAX_SIDE_PX = 1600;
export const QUALITY = 0.8;
/** What storage accepts (PROTOCOL.md v1.1: ≤ 10 MB). */
export const MAX_UPLOAD_BYTES = 10 * 1024 * 1024;
export type PhotoType = 'image/webp' | 'image/jpeg' | 'image/png';

export interface ShrunkPhoto {
  blob: Blob;
  contentType: PhotoType;
  width: number;
  height: number;
}

/** The size that fits `maxSide` on the longest side, keeping the proportions; never enlarged. */
export function fitWithin(width: number, height: number, maxSide = MAX_SIDE_PX): { width: number; height: number } {
  const scale = Math.min(1, maxSide / Math.max(width, height));
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

/**
 * Decodes a picked file upright (the camera's EXIF orientation applied), draws it at most
 * MAX_SIDE_PX on its longest side and encodes it as WebP where the browser can (toBlob falls back
 * to PNG silently when it cannot, so the result's type is checked), else JPEG.
 */
export async function shrinkPhoto(file: Blob): Promise<ShrunkPhoto> {
  const source = await decode(file);
  try {
    const size = fitWithin(source.width, source.height);
    const canvas = document.createElement('canvas');
    canvas.width = size.width;
    canvas.height = size.height;
    const ctx = canvas.getContext('2d');
    if (!ctx) throw new Error('no 2D canvas');
    // A transparent PNG would turn black as JPEG: photos have no transparency to keep.
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, size.width, size.height);
    ctx.imageSmoothingEnabled = true;
    ctx.imageSmoothingQuality = 'high';
    ctx.drawImage(source.image, 0, 0, size.width, size.height);
    let blob = await toBlob(canvas, 'image/webp');
    if (blob?.type !== 'image/webp') blob = await toBlob(canvas, 'image/jpeg');
    if (!blob || (blob.type !== 'image/jpeg' && blob.type !== 'image/webp'))
      throw new Error('could not encode the photo');
    if (blob.size > MAX_UPLOAD_BYTES) throw new Error('the photo is too large even when shrunk');
    return { blob, contentType: blob.type, width: size.width, height: size.height };
  } finally {
    source.close();
  }
}

async function decode(
  file: Blob,
): Promise<{ image: CanvasImageSource; width: number; height: number; close: () => void }> {
  try {
    const bitmap = await createImageBitmap(file, { imageOrientation: 'from-image' });
    return { image: bitmap, width: bitmap.width, height: bitmap.height, close: () => bitmap.close() };
  } catch (err) {
    // Older Safari has no createImageBitmap options; an <img> applies the orientation by itself.
    if (typeof Image === 'undefined') throw err;
    const url = URL.createObjectURL(file);
    const img = new Image();
    img.src = url;
    try {
      await img.decode();
    } catch {
      URL.revokeObjectURL(url);
      throw new Error('not an image this browser can read');
    }
    return { image: img, width: img.naturalWidth, height: img.naturalHeight, close: () => URL.revokeObjectURL(url) };
  }
}

function toBlob(canvas: HTMLCanvasElement, type: string): Promise<Blob | null> {
  return new Promise((resolve) => canvas.toBlob(resolve, type, QUALITY));
}
