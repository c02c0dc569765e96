// cozefallback from Node: one client, two credentials, a workspace that moves under it.
//
// Configuration comes from the environment, with the official SDKs' names:
//   COZE_API_BASE, COZE_API_TOKEN (personal PAT), COZE_API_TOKEN_ENTERPRISE (enterprise PAT), ...
// BOT_ID names the bot to chat with. MOCK_CONTROL (optional) is a coze-mock base URL: the example then moves
// the workspace half-way through to show the fallback.
import { Client, CozeError } from 'cozefallback'

const client = Client.fromEnv()
const botId = process.env.BOT_ID ?? '7350000000000000001'
const chat = (stream) => ({
  bot_id: botId,
  user_id: 'example-user',
  stream,
  additional_messages: [{ role: 'user', content: 'What can you do?', content_type: 'text' }],
})

async function ask(label) {
  const r = await client.post('/v3/chat', chat(false))
  console.log(`${label}: chat ${r.json().data.id} served by the ${r.credential} credential in ${r.attempts} attempt(s) (logid ${r.logid})`)
}

async function streamAnswer(label) {
  let text = ''
  const stream = client.stream('POST', '/v3/chat', { json: chat(true) })
  for await (const ev of stream) {
    if (ev.event === 'conversation.message.delta') text += JSON.parse(ev.data).content ?? ''
  }
  console.log(`${label}: streamed ${JSON.stringify(text)} via ${stream.credential}`)
}

try {
  await ask('before the move')
  if (process.env.MOCK_CONTROL) {
    await fetch(`${process.env.MOCK_CONTROL}/__mock/state`, { method: 'POST', body: JSON.stringify({ moved: true }) })
    console.log('-- the workspace moved to the enterprise --')
  }
  await ask('after the move')
  await ask('again (sticky route, one round trip)')
  await streamAnswer('streaming')
  try {
    await client.get('/v1/bots/7359999999999999999')
  } catch (e) {
    if (!(e instanceof CozeError)) throw e
    console.log(`an unknown bot: ${e.code} cozeCode=${e.cozeCode} credential=${e.credential} logid=${e.logid}`)
  }
  const m = client.metrics()
  console.log(`metrics: ${m.requests_total} requests, ${m.fallbacks_total} fallback(s), mode ${m.mode}`)
} finally {
  client.close()
}
