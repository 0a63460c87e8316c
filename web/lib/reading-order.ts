// The live page's reading order: newest first (the default: a live event is read from its latest
// moment) or oldest first (catching up from the start, like a story); the choice is kept for every
// event in localStorage, like the language.
export type ReadingOrder = 'newest' | 'oldest';

export const ORDER_KEY = 'livecast.order';

function storage(): Storage | undefined {
  try {
    return window.localStorage;
  } catch {
    return undefined; // storage blocked: newest first, and the choice lasts as long as the page
  }
}

export function storedOrder(): ReadingOrder {
  return storage()?.getItem(ORDER_KEY) === 'oldest' ? 'oldest' : 'newest';
}

export function keepOrder(order: ReadingOrder): void {
  storage()?.setItem(ORDER_KEY, order);
}
