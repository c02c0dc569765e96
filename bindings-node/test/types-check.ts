// Compiled (not run) by types.test.mjs with `tsc --strict --noEmit` against the installed package's index.d.ts.
import { Client, CozeError, CozeEvent, CozeResponse, OAuthApp, OAuthToken, TokenRefresh, DeviceCode, LogRecord, LogLevel, ConversationMoved, LOG_LEVELS, setLogger, cozeAxiosAdapter, cozeAxiosInstance, ErrorCodes, WebSocketSession, WsEvent, createWebSocketClass } from 'cozefallback'
import cjsDefault = require('cozefallback')

export async function usage(): Promise<void> {
  const client = new Client({ base_url: 'https://api.coze.cn', personal: { type: 'pat', token: 'pat_x' }, enterprise: { type: 'pat', token: 'pat_y' } })
  const r: CozeResponse = await client.request('GET', '/v1/bots/1', { query: { a: 1 }, headers: { 'X-Trace': 'abc' }, timeoutMs: 5000, signal: AbortSignal.timeout(10) })
  const status: number = r.status
  const body: Buffer = r.body
  const credential: 'personal' | 'enterprise' = r.credential
  const code: number = r.json<{ code: number }>().code
  await client.get('/v1/workspaces')
  await client.post('/v3/chat', { bot_id: '1' })
  await client.upload('/v1/files/upload', { filename: 'a.txt', data: Buffer.from('x') })
  const stream = client.stream('POST', '/v3/chat', { json: { stream: true } })
  for await (const ev of stream) {
    const e: CozeEvent = ev
    const id: string | null = e.id
    void id
    break
  }
  const session: WebSocketSession = await client.websocket('/v1/chat', { query: { bot_id: '1' }, signal: AbortSignal.timeout(1000) })
  await session.send({ id: '1', event_type: 'chat.update', data: {} })
  await session.sendBinary(Buffer.from([1]))
  for await (const ev of session) {
    if (Buffer.isBuffer(ev)) continue
    const e: WsEvent = ev
    const name: string = e.event_type
    const logid: string | undefined = e.detail?.logid
    void name, void logid
  }
  const wsInfo: [string, number, string | null, number, number | null] = [session.credential, session.attempts, session.logid, session.eventsDelivered, session.closeCode]
  await session.close()
  const WS = createWebSocketClass(client)
  const sock = new WS('wss://ws.coze.cn/v1/chat?bot_id=1', [])
  sock.onmessage = (m) => void JSON.parse(String(m.data))
  sock.addEventListener('close', (c) => void c.code)
  const closing: 2 = WS.CLOSING
  if (sock.readyState === sock.OPEN) sock.send('{}')
  sock.close(1000)
  // @ts-expect-error send takes an object, not a number
  await session.send(42)
  void wsInfo, void closing
  client.setMode('enterprise_first')
  client.setRefreshHook((t: TokenRefresh) => void t.refreshToken)
  client.onConversationMoved((from: string, to: string, copied: number) => void [from, to, copied])
  client.onConversationMoved(null)
  client.mapConversation('7480000000000000001', '7480000000000000002')
  const mapped: string | null = client.mappedConversation('7480000000000000001')
  const moved: ConversationMoved | null = r.conversationMoved
  const copied: number | undefined = moved?.messagesCopied
  const streamMoved: string | undefined = stream.conversationMoved?.to
  new Client({ conversations: { on_stranded: 'carry_over', carry_over_messages: 20 } }, { onConversationMoved: (f) => void f }).close()
  // @ts-expect-error an unknown on_stranded value does not type-check
  new Client({ conversations: { on_stranded: 'ignore' } })
  void mapped, void copied, void streamMoved
  const m: Record<string, unknown> = client.metrics()
  const text: string = client.metricsPrometheus()
  try {
    await client.get('/x')
  } catch (err) {
    if (err instanceof CozeError) {
      const c: 'COZE_API' | 'COZE_CONFIG' | 'COZE_AUTH' | 'COZE_REAUTH_REQUIRED' | 'COZE_TRANSPORT' | 'COZE_TIMEOUT' | 'COZE_STREAM_INTERRUPTED' | 'COZE_CONVERSATION_STRANDED' | 'COZE_CANCELLED' | 'COZE_INVALID_ARGUMENT' | 'COZE_INTERNAL' = err.code
      const fields: [number | null, string | null, number | null, string | null] = [err.cozeCode, err.logid, err.httpStatus, err.credential]
      const stranded: [string | null, string | null, 'personal' | 'enterprise' | null, 'personal' | 'enterprise' | null] = [err.conversationId, err.fileId, err.conversationOwner, err.botCredential]
      if (err.code === ErrorCodes.CONVERSATION_STRANDED) void stranded
      void c, void fields, void err.previous?.cozeCode
    }
  }
  const app = new OAuthApp({ baseUrl: 'https://api.coze.cn', clientId: '1' })
  const auth = app.authorizeUrl('https://example.com/cb', { pkce: true })
  const token: OAuthToken = await app.exchangeCode('code', 'https://example.com/cb', auth.codeVerifier)
  const access: string = token.accessToken
  const masked: string | null = token.toJSON().refreshToken
  new Client({ personal: token.oauthConfig('1') }).close()
  const device: DeviceCode = await app.deviceCode()
  await app.waitDeviceToken(device)
  await app.waitDeviceToken({ deviceCode: device.deviceCode, expiresIn: 600, interval: 5 })
  setLogger((rec: LogRecord) => {
    const level: 'error' | 'warn' | 'info' | 'debug' | 'trace' = rec.level
    const from: string | number | boolean | undefined = rec.fields.from
    void level, void from, void rec.message, void rec.target, void rec.time.getTime()
  }, { level: 'debug' })
  setLogger(null)
  const levels: ReadonlyArray<LogLevel> = LOG_LEVELS
  // @ts-expect-error an unknown level does not type-check
  setLogger(() => {}, { level: 'loud' })
  void access, void masked, void levels
  cozeAxiosAdapter(client)
  cozeAxiosInstance(client)
  void ErrorCodes.API, void cjsDefault.Client, void Client.fromEnv
  void status, void body, void credential, void code, void m, void text
}
