// An entry's photos for readers: responsive, lazy, with their size known before they load (the
// width/height attributes give the box its proportions, so nothing below jumps when a photo
// arrives), alt text or "Photo n of m", and a tap opens the full image.
import type { Entry } from '../../shared/domain/protocol';
import type { PageConfig } from './config';
import { h } from './dom';
import { t } from './i18n';
import { imagesOf } from './types';

/** An image's url as the contract gives it: absolute, or relative to the HTTP API's origin. */
export function imageUrl(config: Pick<PageConfig, 'apiUrl'>, url: string, here = location.href): string {
  const api = new URL(config.apiUrl || here, here);
  return new URL(url, `${api.origin}/`).toString();
}

/**
 * Builds the photos of entries, reusing the elements of photos that did not change: the pages
 * rebuild their lists on every update, and a rebuilt <img> would flash while it decodes again.
 */
export class PhotoViews {
  private readonly held = new Map<number, { key: string; el: HTMLElement }>();

  constructor(private readonly config: Pick<PageConfig, 'apiUrl'>) {}

  /** The entry's photos (null when it has none). An edit that changes them builds them anew. */
  of(entry: Entry): HTMLElement | null {
    const images = imagesOf(entry);
    if (images.length === 0) {
      this.held.delete(entry.seq);
      return null;
    }
    const key = JSON.stringify(images);
    const held = this.held.get(entry.seq);
    if (held?.key === key) return held.el;
    const el = h(
      'div',
      { class: `photos n${Math.min(images.length, 4)}`, 'data-testid': 'photos' },
      ...images.map((img, n) => {
        const src = imageUrl(this.config, img.url);
        return h(
          'a',
          { class: 'photo', href: src, target: '_blank', rel: 'noopener' },
          h('img', {
            src,
            width: img.width,
            height: img.height,
            alt: img.alt?.trim() ? img.alt : t.photoOf(n + 1, images.length),
            loading: 'lazy',
            decoding: 'async',
            'data-testid': 'photo',
          }),
        );
      }),
    );
    this.held.set(entry.seq, { key, el });
    return el;
  }
}
