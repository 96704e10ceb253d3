/* pl011.c - an Arm PrimeCell PL011 UART's registers (aarch64's ttyAMA0)
 * over the serial port's host side (devices/serial.c, devices/uart.h),
 * after the PL011 Technical Reference Manual (r1p5).
 *
 * Transmission is the host side's buffer: the transmit FIFO is "full" while
 * that buffer lacks room for a FIFO's worth, "empty" when it is drained.
 * Interrupts are levels computed from the buffers rather than latched
 * events: receive (and receive timeout) while input waits, transmit while
 * there is room. Linux's driver masks the transmit interrupt when it has
 * nothing to send, so the level never storms, and no edge can be missed.
 */
#include <stdint.h>

#include "uart.h"

enum {
	DR = 0x000, RSR = 0x004, FR = 0x018, ILPR = 0x020, IBRD = 0x024, FBRD = 0x028,
	LCR_H = 0x02c, CR = 0x030, IFLS = 0x034, IMSC = 0x038, RIS = 0x03c, MIS = 0x040,
	ICR = 0x044, DMACR = 0x048, ID_BASE = 0xfe0,
};
/* Where the model keeps its registers in s->reg. */
enum { R_CR, R_LCR_H, R_IBRD, R_FBRD, R_IFLS, R_IMSC, R_ILPR, R_DMACR };
#define FR_CTS 0x001
#define FR_DSR 0x002
#define FR_DCD 0x004
#define FR_BUSY 0x008
#define FR_RXFE 0x010
#define FR_TXFF 0x020
#define FR_RXFF 0x040
#define FR_TXFE 0x080
#define INT_RX 0x010
#define INT_TX 0x020
#define INT_RT 0x040
#define INT_ALL 0x7ff
#define CR_LBE 0x080
/* Reset values (TRM 3.2): UART off, TXE and RXE set; FIFO levels half. */
#define CR_RESET 0x300
#define IFLS_RESET 0x012

/* Peripheral ID 0x00341011 (PL011, r1p5: a 32-byte FIFO to Linux) and the
 * PrimeCell ID, one byte per word at 0xfe0-0xffc. */
static const uint8_t ids[8] = { 0x11, 0x10, 0x34, 0x00, 0x0d, 0xf0, 0x05, 0xb1 };

static uint32_t ris(const struct serial *s)
{
	return (s->rx_len ? INT_RX | INT_RT : 0) | (serial_tx_room(s) ? INT_TX : 0);
}

static bool pl011_irq(const struct serial *s)
{
	return ris(s) & s->reg[R_IMSC];
}

static bool pl011_loopback(const struct serial *s)
{
	return s->reg[R_CR] & CR_LBE;
}

static uint32_t fr(const struct serial *s)
{
	return FR_CTS | FR_DSR | FR_DCD | /* a terminal is always there */
	       (s->tx_len ? FR_BUSY : FR_TXFE) | (serial_tx_room(s) ? 0 : FR_TXFF) |
	       (s->rx_len ? 0 : FR_RXFE) | (s->rx_len == UART_RX_SIZE ? FR_RXFF : 0);
}

static uint32_t reg_read(struct serial *s, uint64_t off)
{
	switch (off) {
	case DR: {
		int c = serial_rx_pop(s);
		return c < 0 ? 0 : (uint32_t)c; /* no framing, parity or break errors */
	}
	case FR: return fr(s);
	case ILPR: return s->reg[R_ILPR];
	case IBRD: return s->reg[R_IBRD];
	case FBRD: return s->reg[R_FBRD];
	case LCR_H: return s->reg[R_LCR_H];
	case CR: return s->reg[R_CR];
	case IFLS: return s->reg[R_IFLS];
	case IMSC: return s->reg[R_IMSC];
	case RIS: return ris(s);
	case MIS: return ris(s) & s->reg[R_IMSC];
	case DMACR: return s->reg[R_DMACR];
	default:
		if (off >= ID_BASE && off < ID_BASE + 4 * sizeof(ids) && !(off & 3))
			return ids[(off - ID_BASE) / 4];
		return 0; /* RSR (no errors) and reserved space */
	}
}

static uint32_t pl011_read(struct serial *s, uint64_t off, unsigned len)
{
	uint32_t v = reg_read(s, off & ~3ULL) >> 8 * (off & 3);
	return len >= 4 ? v : v & ((1u << 8 * len) - 1);
}

static void pl011_write(struct serial *s, uint64_t off, uint32_t v, unsigned len)
{
	(void)len;
	switch (off) {
	case DR: serial_tx(s, (uint8_t)v); break;
	case ILPR: s->reg[R_ILPR] = v & 0xff; break;
	case IBRD: s->reg[R_IBRD] = v & 0xffff; break;
	case FBRD: s->reg[R_FBRD] = v & 0x3f; break;
	case LCR_H: s->reg[R_LCR_H] = v & 0xff; break;
	case CR: s->reg[R_CR] = v & 0xff87; break;
	case IFLS: s->reg[R_IFLS] = v & 0x3f; break;
	case IMSC: s->reg[R_IMSC] = v & INT_ALL; break;
	case DMACR: s->reg[R_DMACR] = v & 0x7; break;
	default: break; /* ICR: nothing is latched; RSR/ECR: no errors to clear */
	}
}

/* Registers at reset, before the guest's driver touches them. */
static void pl011_reset(struct serial *s)
{
	s->reg[R_CR] = CR_RESET;
	s->reg[R_IFLS] = IFLS_RESET;
}

const struct uart_model uart_pl011 = {
	.name = "PL011", .size = 0x1000,
	.read = pl011_read, .write = pl011_write, .irq = pl011_irq,
	.loopback = pl011_loopback, .reset = pl011_reset,
};
