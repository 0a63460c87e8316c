// The landing page, `/`: what livecast is and where its pages are, in the reader's language. It needs
// no event and no server: nothing here can fail to load.
import { byId, h, replace } from '../lib/dom';
import { startLocale, t } from '../lib/i18n';
import { data, pageHeader } from '../lib/page';

startLocale();
document.title = t.homeTitle('livecast');
const path = (p: string) => h('code', { translate: 'no' }, p);
replace(
  byId('app'),
  h(
    'main',
    { class: 'page narrow' },
    pageHeader(data('livecast', 'h1')),
    h('p', {}, t.homeIntro),
    h(
      'ul',
      { 'data-testid': 'home-pages' },
      h('li', {}, path('/live/{eventId}'), ' — ', t.homeLive),
      h('li', {}, path('/report/{eventId}#token=…'), ' — ', t.homeReport),
      h('li', {}, path('/replay/{eventId}'), ' — ', t.homeReplay),
      h(
        'li',
        {},
        h('a', { href: '/organiser', 'data-testid': 'home-organiser' }, path('/organiser')),
        ' — ',
        t.homeOrganiser,
      ),
    ),
  ),
);
