// Login, ticket renewal and logout, the way PVE's own web interface does them: the ticket
// lives in the PVEAuthCookie cookie, the CSRF token in memory (and in sessionStorage, so a
// reload keeps the session).

import { api, transport } from './client';
import type { Permissions, TicketAnswer } from './types';

export interface Session {
  username: string;
  csrf: string;
  /** When the current ticket was issued (epoch seconds, from the ticket itself). */
  issued: number;
}

const STORAGE_KEY = 'sdnd.session';
/** PVE renews every 15 minutes; tickets live 2 hours. */
export const RENEW_AFTER_SECONDS = 15 * 60;
export const TICKET_LIFETIME_SECONDS = 2 * 3600;

/** The issue time PVE tickets carry: `PVE:USER:HEXTIME::SIGNATURE`. */
export function ticketIssued(ticket: string): number | null {
  const parts = ticket.split(':');
  if (parts[0] !== 'PVE' || parts.length < 3) return null;
  const time = parseInt(parts[2] ?? '', 16);
  return Number.isFinite(time) ? time : null;
}

function readCookie(name: string): string | null {
  for (const pair of document.cookie.split(';')) {
    const [key, ...rest] = pair.trim().split('=');
    if (key === name) return decodeURIComponent(rest.join('='));
  }
  return null;
}

function setCookie(ticket: string | null) {
  const secure = location.protocol === 'https:' ? '; Secure' : '';
  document.cookie = ticket === null
    ? `PVEAuthCookie=; Path=/; Max-Age=0; SameSite=Strict${secure}`
    : `PVEAuthCookie=${encodeURIComponent(ticket)}; Path=/; SameSite=Strict${secure}`;
}

function adopt(answer: TicketAnswer): Session {
  setCookie(answer.ticket);
  const session = {
    username: answer.username,
    csrf: answer.CSRFPreventionToken,
    issued: ticketIssued(answer.ticket) ?? Math.floor(Date.now() / 1000),
  };
  transport.csrf = session.csrf;
  sessionStorage.setItem(STORAGE_KEY, JSON.stringify(session));
  return session;
}

/** `user@realm`, or a bare user name completed with the selected realm. */
export function qualifiedUser(name: string, realm: string): string {
  const trimmed = name.trim();
  return trimmed.includes('@') ? trimmed : `${trimmed}@${realm}`;
}

export async function login(username: string, password: string): Promise<Session> {
  transport.epoch++;
  return adopt(await api.post<TicketAnswer>('/access/ticket', { username, password }));
}

/** A fresh ticket for the current one (PVE: the old ticket as password). */
export async function renew(session: Session): Promise<Session> {
  const ticket = readCookie('PVEAuthCookie');
  if (!ticket) throw new Error('the session cookie is gone');
  return adopt(await api.post<TicketAnswer>('/access/ticket', { username: session.username, password: ticket }));
}

/** Whether the ticket should be renewed now. */
export function renewDue(session: Session, now: number): boolean {
  return now - session.issued >= RENEW_AFTER_SECONDS;
}

/** The session kept across a reload, if its ticket is still valid. */
export function restore(now: number): Session | null {
  const stored = sessionStorage.getItem(STORAGE_KEY);
  const ticket = readCookie('PVEAuthCookie');
  if (!stored || !ticket) return null;
  try {
    const session = JSON.parse(stored) as Session;
    if (now - session.issued >= TICKET_LIFETIME_SECONDS) return null;
    transport.epoch++;
    transport.csrf = session.csrf;
    return session;
  } catch {
    return null;
  }
}

export function logout() {
  transport.epoch++;
  setCookie(null);
  sessionStorage.removeItem(STORAGE_KEY);
  transport.csrf = null;
}

export async function permissions(): Promise<Permissions> {
  return api.get<Permissions>('/access/permissions');
}
