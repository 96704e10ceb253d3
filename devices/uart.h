/* uart.h - the serial port inside devices/: one host side (devices/serial.c:
 * --serial, buffers, back-pressure, snapshots) under two register models,
 * a 16550A (devices/uart16550.c; x86_64's ttyS0) and an Arm PL011
 * (devices/pl011.c; aarch64's ttyAMA0, as on QEMU's virt machine, which is
 * what a NixOS aarch64 guest's console and backdoor expect). The
 * architecture picks the model in arch_devices.serial_uart.
 */
#ifndef UART_H
#define UART_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define UART_RX_SIZE 256
#define UART_TX_SIZE 4096 /* guest output held while the host does not take it */
#define UART_TX_FIFO 16   /* what a driver writes per "room" signal */
#define UART_REGS 8       /* registers a model keeps (and a snapshot saves) */

struct uart_model;

struct serial {
	struct vm *vm;
	const struct uart_model *model;
	pthread_mutex_t lock;
	int out_fd, in_fd;
	bool in_watched, out_watched;
	bool irq_level;
	uint32_t reg[UART_REGS]; /* the model's own registers, by its index */
	uint8_t rx[UART_RX_SIZE];
	unsigned rx_head, rx_len;
	uint8_t tx[UART_TX_SIZE];
	unsigned tx_head, tx_len;
};

/* A register model. Every hook runs with s->lock held. */
struct uart_model {
	const char *name;
	uint64_t size; /* bytes of register space */
	/* A guest access of len bytes at offset off. */
	uint32_t (*read)(struct serial *s, uint64_t off, unsigned len);
	void (*write)(struct serial *s, uint64_t off, uint32_t v, unsigned len);
	/* The interrupt line's level now. */
	bool (*irq)(const struct serial *s);
	/* The host took output and there is room again. May be NULL. */
	void (*tx_room)(struct serial *s);
	/* Transmitted bytes come back as input (a loopback test mode). */
	bool (*loopback)(const struct serial *s);
	/* Registers at reset, where they are not all zero. May be NULL. */
	void (*reset)(struct serial *s);
};

extern const struct uart_model uart_16550, uart_pl011;

/* The host side, for the models (s->lock held). */
void serial_tx(struct serial *s, uint8_t c);       /* one byte from the guest */
int serial_rx_pop(struct serial *s);               /* next input byte, -1: none */
void serial_rx_clear(struct serial *s);            /* drop pending input */
static inline bool serial_tx_room(const struct serial *s)
{
	return UART_TX_SIZE - s->tx_len >= UART_TX_FIFO;
}

#endif
