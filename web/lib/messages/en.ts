// Every interface string of the pages, in English. Its shape is the catalogue's type: the zh-CN
// catalogue must have every key with the same parameters, or `tsc` fails.
import type { ErrorCode } from '../../../shared/domain/protocol';
import { clock, count, plural } from '../intl';

export const en = {
  languageName: 'English',
  switchLanguage: 'Switch language',

  // The landing page, /
  homeTitle: (product: string) => `${product} — live microblogging of an event`,
  homeIntro: 'Live microblogging of an event. Each page takes the event’s id in its address:',
  homeLive: 'follow the event live',
  homeReport: 'the reporter’s console',
  homeReplay: 'replay the timeline with its repost spikes',

  // organiser: the organiser's console, /organiser (issue 15, item 1)
  homeOrganiser: 'the organiser’s console: create events and hand out their links',

  // embed: the compact live view for other sites' iframes, /embed/{eventId} (issue 15, item 7)
  openFullLive: 'Open the full live page ↗',

  // How every page starts
  noEventInPath: (path: string) => `No event in the address: open /${path}/{eventId}.`,
  noSuchEvent: (eventId: Node) => ['There is no event “', eventId, '”. Check the link.'],
  loadFailed: (why: Node) => ['Could not load the event: ', why],
  loading: 'Loading…',

  // The connection
  stateLive: 'Live',
  stateConnecting: 'Connecting…',
  stateReconnecting: 'Reconnecting…',
  stateOffline: (seconds: number) => `Offline — retrying in ${count(seconds)} s`,
  stateStopped: 'Disconnected',

  // Entries, on every page
  pinned: 'Pinned',
  keyMoment: 'Key moment',
  corrected: 'Corrected',
  correctedAt: (iso: string) => `corrected ${clock(iso)}`,
  deleted: 'Deleted',
  rev: (rev: number) => `rev ${count(rev)}`,
  seq: (seq: number) => `#${seq}`,
  reposts: 'reposts',
  photoOf: (n: number, of: number) => `Photo ${count(n)} of ${count(of)}`,

  // Live page
  watching: (n: number) => `${count(n)} watching`,
  watchingTitle: 'people watching now',
  show: 'Show',
  allUpdates: 'All updates',
  keyMoments: 'Key moments',
  nothingYet: 'Nothing yet — updates appear here the moment the reporter posts them.',
  noKeyMoments: 'No key moments yet.',
  newUpdates: (n: number) => `↑ ${count(n)} new ${plural(n, { one: 'update', other: 'updates' })}`,
  spikeHeading: 'Repost spike! ',
  spikeOn: (perSecond: number, about: Node) => [
    `${count(perSecond)} ${plural(perSecond, { one: 'repost', other: 'reposts' })} a second on `,
    about,
  ],
  spikeOnSeq: (seq: number) => `update #${seq}`,
  dismiss: 'Dismiss',
  repost: 'Repost',
  reposted: 'Reposted',

  // live page: links, trail, order (issue 15)
  readingOrder: 'Reading order',
  newestFirst: 'Newest',
  oldestFirst: 'Oldest',
  newUpdatesBelow: (n: number) => `↓ ${count(n)} new ${plural(n, { one: 'update', other: 'updates' })}`,
  linkedUpdate: 'Linked update',
  linkToUpdate: (seq: number) => `Link to update #${seq}`,
  share: 'Share',
  shareUpdate: (seq: number) => `Share update #${seq}`,
  linkCopied: 'Link copied',
  copyFailed: (link: Node) => ['Could not copy the link; here it is: ', link],
  earlierVersions: 'Earlier versions',
  loadingVersions: 'Loading earlier versions…',
  noEarlierWording: 'No earlier wording: only its pin changed.',
  versionsFailed: (why: Node) => ['Could not load the earlier versions: ', why],
  tryAgain: 'Try again',
  writtenAt: (time: string) => `written ${time}`,

  // Reporter console
  consoleTitle: (title: string) => `Report — ${title}`,
  updateText: 'Update text',
  composePlaceholder: 'What is happening? Enter publishes, Shift+Enter starts a new line.',
  publish: 'Publish',
  nothingSent: 'Nothing sent yet.',
  nonePublished: 'No updates published yet.',
  openLive: 'Open the live page ↗',
  newUpdate: 'New update',
  outbox: 'Outbox',
  published: 'Published',
  cannotConnect: 'Cannot connect. If this keeps happening, the operator token may be wrong.',
  changeToken: 'Change token',
  allSent: 'All sent',
  waitingToSend: (n: number) => `${count(n)} waiting to send`,
  outboxState: { waiting: 'waiting', uploading: 'uploading', sending: 'sending', acked: 'acked', failed: 'failed' },
  addPhotos: 'Add photos',
  photosCount: (n: number, max: number) => `${count(n)} of ${count(max)} photos`,
  preparingPhotos: (n: number) => `Preparing ${count(n)} ${plural(n, { one: 'photo', other: 'photos' })}…`,
  photoUnreadable: 'A file could not be read as a photo and was left out.',
  tooManyPhotos: (max: number) => `At most ${count(max)} photos per update: the rest were left out.`,
  altText: (n: number) => `Description of photo ${count(n)} (optional)`,
  altPlaceholder: 'Describe the photo',
  removePhoto: (n: number) => `Remove photo ${count(n)}`,
  withPhotos: (n: number) => `${count(n)} ${plural(n, { one: 'photo', other: 'photos' })}`,
  photoProgress: (n: number, percent: number) => `Photo ${count(n)}: ${count(percent)}%`,
  photosWaitForNetwork: 'photos wait for the network',
  uploadingDetail: 'uploading photos…',
  photoLost: 'A photo of this update is no longer on this device; discard it and attach the photo again.',
  ackedDetail: (seq: number, rev: number, rttMs: number | undefined) =>
    `#${seq} · rev ${count(rev)}${rttMs !== undefined ? ` · ${count(rttMs)} ms` : ''}`,
  failed: 'failed',
  sendingDetail: 'sending…',
  retrying: (why: string) => `retrying: ${why}`,
  queued: 'queued',
  waitingForConnection: 'waiting for the connection',
  /** The server's refusal: English shows its own message; other languages say what the code means. */
  refusal: (_code: ErrorCode, message: string) => message,
  retry: 'Retry',
  discard: 'Discard',
  correctUpdate: (seq: number) => `Correct update ${seq}`,
  saveCorrection: 'Save correction',
  cancel: 'Cancel',
  deletedText: '(deleted)',
  edit: 'Edit',
  pin: 'Pin',
  unpin: 'Unpin',
  delete: 'Delete',
  confirmDelete: (seq: number) => `Delete update #${seq}? Viewers will see it disappear.`,
  describeEdit: (seq: number) => `Correct #${seq}: `,
  describeDelete: (seq: number) => `Delete #${seq}`,
  describePin: (seq: number, pinned: boolean) => `${pinned ? 'Pin' : 'Unpin'} #${seq}`,
  consoleHeading: 'Reporter console',
  tokenIntro: (eventId: Node) => ['Event ', eventId, '. Enter the operator token you got when the event was created.'],
  tokenLabel: 'Operator token',
  connect: 'Connect',

  // Replay
  replayTitle: (title: string) => `Replay — ${title}`,
  loadingTimeline: (n: number) => `Loading the timeline… ${count(n)} ${plural(n, { one: 'entry', other: 'entries' })}`,
  loadingRevisions: (n: number) => `Loading every revision… ${count(n)}`,
  play: '▶ Play',
  pause: '⏸ Pause',
  replayAgain: '↺ Replay',
  position: 'Position in the event',
  speed: 'Speed',
  nothingAtMoment: 'Nothing had been posted yet at this moment.',
  chartLabel: 'Reposts per second over the event, spikes shaded',
  summary: (updates: number, revisions: number, reposts: number, spikes: number) =>
    `${count(updates)} ${plural(updates, { one: 'update', other: 'updates' })} · ${count(revisions)} ${plural(revisions, { one: 'revision', other: 'revisions' })} · ${count(reposts)} ${plural(reposts, { one: 'repost', other: 'reposts' })} · ${count(spikes)} ${plural(spikes, { one: 'spike', other: 'spikes' })}`,
  exportJson: 'Export JSON',
  exportCsv: 'Export CSV',
  repostsPerSecond: 'Reposts per second',
  timelineAtMoment: 'Timeline at this moment',
  at: (time: string, date: string) => `at ${time} (${date})`,
  repostsOverEvent: 'reposts over the whole event',
  perSecond: (n: number) => `${count(n)}/s`,
  spikeTitle: (at: string, peak: number, total: number) =>
    `Spike at ${at}: peak ${count(peak)}/s, ${count(total)} reposts — click to jump there`,
  noSpikes: 'No repost spikes were recorded.',
  spikeOngoing: (at: string, peak: number, total: number, seq: number) =>
    `⚡ ${at} — still going when loaded: so far peak ${count(peak)}/s, ${count(total)} reposts, on #${seq}`,
  spikeEnded: (from: string, to: string, peak: number, total: number, seq: number) =>
    `⚡ ${from}–${to} — peak ${count(peak)}/s, ${count(total)} reposts, on #${seq}`,
};

export type Messages = typeof en;
