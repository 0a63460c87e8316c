// The text of the abuse scenario's history entries: long Chinese posts (3 bytes a character in
// UTF-8), so each `sync {since: 0}` a flooder sends costs the stage dozens of 32 KB messages.

const PASSAGE =
  '香鱼节开幕式在江边举行，两岸观众挤满了堤坝。龙舟队在第二个浮标处并驾齐驱，鼓声震天，' +
  '裁判举起红旗示意重新出发。市长剪彩之后，第一网香鱼被端上舞台，渔民们向观众致意。' +
  '雨后的江面泛着微光，孩子们在岸边放飞纸鸢，小贩叫卖烤鱼和米酒，志愿者维持着秩序。';

const CODE_POINTS = [...PASSAGE];

/** `chars` code points (the route's limit is 2,000), starting at a different place for each entry. */
export function historyText(i: number, chars: number): string {
  const out: string[] = [`第${i + 1}条：`];
  let n = [...out[0]!].length;
  for (let k = (i * 17) % CODE_POINTS.length; n < chars; k = (k + 1) % CODE_POINTS.length, n++)
    out.push(CODE_POINTS[k]!);
  return out.join('');
}
