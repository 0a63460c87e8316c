// The organiser console's own strings, in English and Simplified Chinese. Kept out of the shared
// catalogues (web/lib/messages) because every page bundles both of those whole: these strings would
// add 4.9 KB minified (1.4 KB gzip) to the live page, which phones load, for a page only the
// organiser opens. Same rules: the zh-CN object is typed by the English one, so a missing key or a
// different parameter list fails `tsc`; test/web/organiser-api.test.ts checks no English is left.
import { locale } from '../lib/i18n';
import { count, plural } from '../lib/intl';

export const organiserEn = {
  organiserTitle: 'Organiser console',
  signInIntro:
    'Sign in with the admin key. It is kept in this tab only, and forgotten when you sign out or close the tab.',
  adminKeyLabel: 'Admin key',
  signIn: 'Sign in',
  signingIn: 'Signing in…',
  wrongAdminKey: 'That admin key was refused. Check it and try again.',
  adminKeyExpired: 'The admin key is no longer accepted (it may have been changed). Sign in again.',
  signOut: 'Sign out',
  newEvent: 'New event',
  eventTitleLabel: 'Title',
  eventTitlePlaceholder: 'e.g. Lantern Festival — opening night',
  startsAtLabel: 'Starts at (optional, your local time)',
  createEvent: 'Create event',
  creating: 'Creating…',
  titleRequired: 'Give the event a title.',
  badStartsAt: 'The start time is not a valid date and time.',
  eventsHeading: 'Events',
  noEvents: 'No events yet. Create the first one above.',
  loadMore: 'Load more',
  eventMeta: (created: string, updates: number, viewers: number) =>
    `created ${created} · ${count(updates)} ${plural(updates, { one: 'update', other: 'updates' })} · ${count(viewers)} watching`,
  startsAtMeta: (when: string) => `starts ${when}`,
  linkLive: 'Live page',
  linkReplay: 'Replay and exports',
  linkReport: 'Reporter console',
  reportLinkNote:
    'This link carries the reporter’s token and is shown only now: copy it and send it to the reporter. Lost it? Make a new token.',
  reportNoToken: 'The reporter’s token was shown when it was made. To hand out a new link, make a new token.',
  embedLabel: 'Embed on your site',
  embedAndToken: 'Embed, reporter token',
  copy: 'Copy',
  copied: 'Copied',
  copyFailed: 'Could not copy: select the text and copy it.',
  rotateToken: 'New reporter token',
  rotating: 'Making a new token…',
  confirmRotate: (title: string) =>
    `Make a new reporter token for “${title}”? The reporter’s console is refused until it has the new one.`,
  rotated: 'New token made: the old one no longer works.',
  requestFailed: (why: Node) => ['That did not work: ', why],
};

export type OrganiserMessages = typeof organiserEn;

export const organiserZhCN: OrganiserMessages = {
  organiserTitle: '主办方控制台',
  signInIntro: '请使用管理密钥登录。密钥只保存在此标签页中，退出登录或关闭标签页即被清除。',
  adminKeyLabel: '管理密钥',
  signIn: '登录',
  signingIn: '正在登录…',
  wrongAdminKey: '管理密钥被拒绝，请检查后重试。',
  adminKeyExpired: '管理密钥已失效（可能已被更换），请重新登录。',
  signOut: '退出登录',
  newEvent: '新建活动',
  eventTitleLabel: '标题',
  eventTitlePlaceholder: '例如：元宵灯会开幕之夜',
  startsAtLabel: '开始时间（可选，本地时间）',
  createEvent: '创建活动',
  creating: '正在创建…',
  titleRequired: '请填写活动标题。',
  badStartsAt: '开始时间不是有效的日期和时间。',
  eventsHeading: '活动',
  noEvents: '还没有活动，请在上方创建第一个。',
  loadMore: '加载更多',
  eventMeta: (created, updates, viewers) => `创建于 ${created} · ${count(updates)} 条动态 · ${count(viewers)} 人在看`,
  startsAtMeta: (when) => `开始于 ${when}`,
  linkLive: '直播页',
  linkReplay: '回放与导出',
  linkReport: '记者发布台',
  reportLinkNote: '此链接包含记者的操作口令，只在此刻显示：请复制并发送给记者。丢失了？请生成新口令。',
  reportNoToken: '记者的操作口令只在生成时显示。如需分发新链接，请生成新口令。',
  embedLabel: '嵌入您的网站',
  embedAndToken: '嵌入代码、记者口令',
  copy: '复制',
  copied: '已复制',
  copyFailed: '无法复制：请选中文字后手动复制。',
  rotateToken: '生成新的记者口令',
  rotating: '正在生成新口令…',
  confirmRotate: (title) => `为“${title}”生成新的记者口令？在换用新口令之前，记者发布台将被拒绝。`,
  rotated: '新口令已生成，旧口令不再有效。',
  requestFailed: (why) => ['操作失败：', why],
};

/** The active locale's strings (call after startLocale). */
export const organiserMessages = (): OrganiserMessages => (locale === 'zh-CN' ? organiserZhCN : organiserEn);
