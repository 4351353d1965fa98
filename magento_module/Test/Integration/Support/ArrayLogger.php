<?php
declare(strict_types=1);

namespace RefundBridge\Outbox\Test\Integration\Support;

use Psr\Log\LoggerInterface;

/** LoggerInterface that keeps every record ([level, message]) for assertions. */
final class ArrayLogger implements LoggerInterface
{
    /** @var list<array{0: string, 1: string}> */
    public array $records = [];

    public function emergency($message, array $context = []): void { $this->log('emergency', $message, $context); }
    public function alert($message, array $context = []): void { $this->log('alert', $message, $context); }
    public function critical($message, array $context = []): void { $this->log('critical', $message, $context); }
    public function error($message, array $context = []): void { $this->log('error', $message, $context); }
    public function warning($message, array $context = []): void { $this->log('warning', $message, $context); }
    public function notice($message, array $context = []): void { $this->log('notice', $message, $context); }
    public function info($message, array $context = []): void { $this->log('info', $message, $context); }
    public function debug($message, array $context = []): void { $this->log('debug', $message, $context); }

    public function log($level, $message, array $context = []): void
    {
        $this->records[] = [(string) $level, (string) $message];
    }

    /** @return list<string> messages of one level */
    public function messages(string $level): array
    {
        return array_values(array_map(
            static fn (array $r): string => $r[1],
            array_filter($this->records, static fn (array $r): bool => $r[0] === $level)
        ));
    }
}
