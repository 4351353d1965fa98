<?php
/**
 * What the resolver found for an order: the Amazon order id and its source (both null for an
 * Amazon-looking order no source recognised) and, for an order linked to M2E Pro, the link.
 */
declare(strict_types=1);

namespace RefundBridge\Outbox\Model\Resolver;

final class Resolution
{
    public ?string $amazonOrderId;
    public ?string $source;
    /** @var array{name: string, account_id: ?int, refunds_on_creditmemo: ?bool}|null */
    public ?array $connector;

    /**
     * @param array{name: string, account_id: ?int, refunds_on_creditmemo: ?bool}|null $connector
     */
    public function __construct(?string $amazonOrderId, ?string $source, ?array $connector)
    {
        $this->amazonOrderId = $amazonOrderId;
        $this->source = $source;
        $this->connector = $connector;
    }
}
