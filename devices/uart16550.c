/* uart16550.c - the 16550A's registers (x86_64's ttyS0) over the serial
 * port's host side (devices/serial.c, devices/uart.h). Byte-wide registers,
 * eight of them; DLAB switches the first two to the divisor latch. */
#include <stdint.h>

#include "uart.h"

enum { UART_RBR, UART_IER, UART_IIR, UART_LCR, UART_MCR, UART_LSR, UART_MSR, UART_SCR };
/* Where the model keeps its registers in s->reg. */
enum { R_IER, R_LCR, R_MCR, R_SCR, R_DLL, R_DLM, R_FCR, R_THR_PENDING };
#define LCR_DLAB 0x80
#define MCR_LOOP 0x10
#define LSR_DR 0x01
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define IER_RDI 0x01
#define IER_THRI 0x02
#define IIR_NONE 0x01
#define IIR_THRI 0x02
#define IIR_RDI 0x04
#define IIR_FIFO 0xc0
#define FCR_ENABLE 0x01

static uint8_t iir(const struct serial *s)
{
	uint8_t fifo = (s->reg[R_FCR] & FCR_ENABLE) ? IIR_FIFO : 0;
	if ((s->reg[R_IER] & IER_RDI) && s->rx_len)
		return IIR_RDI | fifo;
	if ((s->reg[R_IER] & IER_THRI) && s->reg[R_THR_PENDING])
		return IIR_THRI | fifo;
	return IIR_NONE | fifo;
}

static bool u16550_irq(const struct serial *s)
{
	return !(iir(s) & IIR_NONE);
}

static bool u16550_loopback(const struct serial *s)
{
	return s->reg[R_MCR] & MCR_LOOP;
}

static uint8_t lsr(const struct serial *s)
{
	return (serial_tx_room(s) ? LSR_THRE : 0) | (s->tx_len ? 0 : LSR_TEMT) |
	       (s->rx_len ? LSR_DR : 0);
}

static uint8_t msr(const struct serial *s)
{
	uint32_t mcr = s->reg[R_MCR];
	if (!(mcr & MCR_LOOP))
		return 0xb0; /* DCD, DSR, CTS: a terminal is always there */
	/* Loopback: DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD. */
	return (mcr & 1) << 5 | (mcr & 2) << 3 | (mcr & 4) << 4 | (mcr & 8) << 4;
}

static uint32_t u16550_read(struct serial *s, uint64_t off, unsigned len)
{
	bool dlab = s->reg[R_LCR] & LCR_DLAB;
	(void)len;
	switch (off & 7) {
	case UART_RBR: {
		if (dlab)
			return s->reg[R_DLL];
		int c = serial_rx_pop(s);
		return c < 0 ? 0 : (uint32_t)c;
	}
	case UART_IER: return dlab ? s->reg[R_DLM] : s->reg[R_IER];
	case UART_IIR: {
		uint8_t v = iir(s);
		/* Reading IIR acknowledges a THR-empty interrupt (16550 data sheet). */
		if ((v & 0x0f) == IIR_THRI)
			s->reg[R_THR_PENDING] = 0;
		return v;
	}
	case UART_LCR: return s->reg[R_LCR];
	case UART_MCR: return s->reg[R_MCR];
	case UART_LSR: return lsr(s);
	case UART_MSR: return msr(s);
	default: return s->reg[R_SCR];
	}
}

static void write_ier(struct serial *s, uint8_t v)
{
	/* Enabling THRI with an empty THR raises it at once. */
	if ((v & IER_THRI) && !(s->reg[R_IER] & IER_THRI))
		s->reg[R_THR_PENDING] = serial_tx_room(s);
	s->reg[R_IER] = v & 0x0f;
}

static void u16550_write(struct serial *s, uint64_t off, uint32_t v32, unsigned len)
{
	bool dlab = s->reg[R_LCR] & LCR_DLAB;
	uint8_t v = (uint8_t)v32;
	(void)len;
	switch (off & 7) {
	case UART_RBR:
		if (dlab) {
			s->reg[R_DLL] = v;
		} else {
			serial_tx(s, v);
			s->reg[R_THR_PENDING] = serial_tx_room(s);
		}
		break;
	case UART_IER:
		if (dlab)
			s->reg[R_DLM] = v;
		else
			write_ier(s, v);
		break;
	case UART_IIR:
		s->reg[R_FCR] = v;
		if (v & 0x02) /* clear receive FIFO */
			serial_rx_clear(s);
		break;
	case UART_LCR: s->reg[R_LCR] = v; break;
	case UART_MCR: s->reg[R_MCR] = v & 0x1f; break;
	case UART_SCR: s->reg[R_SCR] = v; break;
	default: break; /* LSR and MSR are read-only */
	}
}

/* THR empty again once the host took output. */
static void u16550_tx_room(struct serial *s)
{
	s->reg[R_THR_PENDING] = 1;
}

const struct uart_model uart_16550 = {
	.name = "16550A", .size = 8,
	.read = u16550_read, .write = u16550_write, .irq = u16550_irq,
	.tx_room = u16550_tx_room, .loopback = u16550_loopback,
};
