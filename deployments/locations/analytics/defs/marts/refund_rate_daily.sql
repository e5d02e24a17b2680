-- Share of each order day's (non-cancelled) orders that have a refund in the payments API, whenever the
-- refund happened: the rate of an order day still grows while its refunds come in.
with refunded as (
    select order_id, sum(amount) as refund_amount
    from $refunds
    group by order_id
)
select
    cast(o.order_ts as date) as order_date,
    count(*) as orders,
    count(r.order_id) as refunded_orders,
    coalesce(sum(r.refund_amount), 0) as refund_amount,
    round(cast(count(r.order_id) as double) / count(*), 6) as refund_rate,
    max(o.order_ts) as last_order_at
from $orders as o
left join refunded as r on r.order_id = o.order_id
where o.status <> 'cancelled'
group by cast(o.order_ts as date)
